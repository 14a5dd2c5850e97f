using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace WStunnel.Bench.Harness;

/// <summary>A throw-away CA and a certificate for 127.0.0.1/localhost it signed, written as PEM files.</summary>
internal sealed class BenchCertificate
{
    private BenchCertificate(string directory)
    {
        CertFile = Path.Combine(directory, "gateway.pem");
        KeyFile = Path.Combine(directory, "gateway.key");
        CaFile = Path.Combine(directory, "ca.pem");
    }

    public string CertFile { get; }

    public string KeyFile { get; }

    public string CaFile { get; }

    /// <summary>A chain policy that trusts the CA in <paramref name="caFile"/> and nothing else, as the harness's clients do.</summary>
    public static X509ChainPolicy TrustOnly(string caFile)
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(X509Certificate2.CreateFromPem(File.ReadAllText(caFile)));
        return policy;
    }

    public static BenchCertificate Create(string directory)
    {
        var files = new BenchCertificate(directory);
        var now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=WStunnel bench CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var authority = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = request.Create(authority, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(8));

        File.WriteAllText(files.CaFile, authority.ExportCertificatePem());
        File.WriteAllText(files.CertFile, leaf.ExportCertificatePem());
        File.WriteAllText(files.KeyFile, key.ExportPkcs8PrivateKeyPem());
        return files;
    }
}
