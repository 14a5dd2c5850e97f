using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>A private CA and a gateway certificate it signed, for localhost and 127.0.0.1, made fresh per fixture.</summary>
internal sealed class TestCertificate : IDisposable
{
    private TestCertificate(X509Certificate2 authority, X509Certificate2 server, string caFile)
    {
        Authority = authority;
        Server = server;
        CaFile = caFile;
    }

    public X509Certificate2 Authority { get; }

    public X509Certificate2 Server { get; }

    /// <summary>The CA in a PEM file, as an operator would hand it to the agent.</summary>
    public string CaFile { get; }

    public static TestCertificate Create()
    {
        var authority = CreateAuthority("CN=WStunnel test CA", issuer: null);
        var server = IssueServerCertificate(authority, "localhost", loopbackAddress: true);
        var caFile = Path.Combine(Path.GetTempPath(), $"wstunnel-test-ca-{Guid.NewGuid():N}.pem");
        File.WriteAllText(caFile, authority.ExportCertificatePem());
        return new TestCertificate(authority, server, caFile);
    }

    /// <summary>A CA certificate with its private key: a root when <paramref name="issuer"/> is null, else an intermediate it signs.</summary>
    internal static X509Certificate2 CreateAuthority(string subject, X509Certificate2? issuer)
    {
        var now = DateTimeOffset.UtcNow;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        if (issuer is null)
        {
            return request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        }

        using var signed = request.Create(issuer, now.AddMinutes(-5), new DateTimeOffset(issuer.NotAfter).AddMinutes(-1), RandomNumberGenerator.GetBytes(8));
        return signed.CopyWithPrivateKey(key);
    }

    /// <summary>A server certificate this CA signs for <paramref name="dnsName"/> (and 127.0.0.1 if asked), with its private key.</summary>
    public X509Certificate2 IssueServerCertificate(string dnsName, bool loopbackAddress = false) =>
        IssueServerCertificate(Authority, dnsName, loopbackAddress);

    /// <summary>A server certificate <paramref name="authority"/> signs, valid until a minute before the authority expires.</summary>
    internal static X509Certificate2 IssueServerCertificate(X509Certificate2 authority, string dnsName, bool loopbackAddress)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(dnsName);
        if (loopbackAddress)
        {
            names.AddIpAddress(IPAddress.Loopback);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var signed = request.Create(authority, DateTimeOffset.UtcNow.AddMinutes(-5), new DateTimeOffset(authority.NotAfter).AddMinutes(-1), RandomNumberGenerator.GetBytes(8));
        using var withKey = signed.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>A certificate and its private key as the PEM text of <c>--cert</c> and <c>--cert-key</c>.</summary>
    public static (string Certificate, string Key) Pem(X509Certificate2 certificate) =>
        (certificate.ExportCertificatePem(), certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());

    /// <summary>An HTTP client for the test's side (the internet client) that trusts only this CA.</summary>
    public HttpClient CreateClient(Uri baseAddress, Version? version = null) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == Server.GetCertHashString() },
    })
    {
        BaseAddress = baseAddress,
        DefaultRequestVersion = version ?? HttpVersion.Version11,
        Timeout = TimeSpan.FromMinutes(5),
    };

    /// <summary>
    /// A certificate this CA signs for an agent, written as PEM certificate and key files (deleted
    /// with the returned handle); <paramref name="clientAuthentication"/> false makes one meant for servers
    /// only, <paramref name="expired"/> one whose validity ended minutes ago.
    /// </summary>
    public ClientCertificateFiles IssueClientCertificate(string commonName, bool clientAuthentication = true, bool expired = false)
    {
        var now = DateTimeOffset.UtcNow;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(clientAuthentication ? "1.3.6.1.5.5.7.3.2" : "1.3.6.1.5.5.7.3.1")], false));
        var caStart = new DateTimeOffset(Authority.NotBefore);
        var (notBefore, notAfter) = expired ? (caStart, caStart.AddSeconds(30)) : (now.AddMinutes(-5), new DateTimeOffset(Authority.NotAfter).AddMinutes(-1));
        using var signed = request.Create(Authority, notBefore, notAfter, RandomNumberGenerator.GetBytes(8));
        var directory = Directory.CreateTempSubdirectory("wstunnel-client-cert-").FullName;
        var files = new ClientCertificateFiles(Path.Combine(directory, "agent.pem"), Path.Combine(directory, "agent.key"), directory);
        File.WriteAllText(files.CertificateFile, signed.ExportCertificatePem());
        File.WriteAllText(files.KeyFile, key.ExportPkcs8PrivateKeyPem());
        return files;
    }

    public void Dispose()
    {
        Authority.Dispose();
        Server.Dispose();
        File.Delete(CaFile);
    }
}

/// <summary>An agent's certificate and key as PEM files, as an operator would deploy them.</summary>
internal sealed record ClientCertificateFiles(string CertificateFile, string KeyFile, string Directory) : IDisposable
{
    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
