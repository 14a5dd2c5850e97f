using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace WStunnel.Agent.Connection;

/// <summary>
/// Verifies the gateway's certificate: the system's trust store, plus an optional private CA. The
/// host name must always match; only the chain may be anchored in the private CA.
/// </summary>
internal sealed class GatewayCertificateValidator(X509Certificate2Collection? privateRoots)
{
    public static GatewayCertificateValidator FromFile(string? caFile)
    {
        if (caFile is null)
        {
            return new GatewayCertificateValidator(null);
        }

        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        return roots.Count == 0
            ? throw new InvalidOperationException($"CaCertificateFile '{caFile}' contains no PEM certificate.")
            : new GatewayCertificateValidator(roots);
    }

    public bool Validate(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (privateRoots is null || certificate is null || errors != SslPolicyErrors.RemoteCertificateChainErrors)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(privateRoots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return custom.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }
}
