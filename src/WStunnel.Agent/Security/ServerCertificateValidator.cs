using System.Diagnostics.CodeAnalysis;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace WStunnel.Agent.Security;

/// <summary>
/// Verifies a server's certificate — the gateway's, or an <c>https://</c> target's: the system's trust
/// store, plus an optional private CA. The host name must always match; only the chain may be anchored
/// in the private CA. A rejection says why, in words an operator can act on.
/// </summary>
/// <param name="privateRoots">The private CA certificates, if any.</param>
/// <param name="setting">The setting that named them, for messages.</param>
internal sealed class ServerCertificateValidator(X509Certificate2Collection? privateRoots, string setting = "CaCertificateFile")
{
    /// <summary>A validator trusting the CA certificates in <paramref name="caFile"/> (if any) besides the system's.</summary>
    public static ServerCertificateValidator FromFile(string? caFile, string setting = "CaCertificateFile")
    {
        if (caFile is null)
        {
            return new ServerCertificateValidator(null, setting);
        }

        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        return roots.Count == 0
            ? throw new InvalidOperationException($"{setting} '{caFile}' contains no PEM certificate.")
            : new ServerCertificateValidator(roots, setting);
    }

    /// <summary>Whether to trust the server; when not, <paramref name="rejection"/> says why and which certificate it was.</summary>
    public bool Validate(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, [NotNullWhen(false)] out string? rejection)
    {
        rejection = null;
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            rejection = "the server presented no certificate";
            return false;
        }

        var leaf = certificate as X509Certificate2;
        using var loaded = leaf is null ? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()) : null;
        leaf ??= loaded!;

        var problems = new List<string>(2);
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            problems.Add($"it is not issued for the host the agent connected to (RemoteCertificateNameMismatch; it names {NamesOf(leaf)})");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            if (privateRoots is null)
            {
                problems.Add($"its chain does not lead to a root this machine trusts ({StatusOf(chain)})");
            }
            else if (!ChainsToPrivateRoot(leaf, chain, out var status))
            {
                problems.Add($"its chain leads neither to a root this machine trusts nor to the CA in {setting} ({status})");
            }
        }

        if (problems.Count == 0)
        {
            return true;
        }

        rejection = $"{string.Join("; ", problems)}. Certificate: subject {leaf.Subject}, issuer {leaf.Issuer}, valid {leaf.NotBefore.ToUniversalTime():u} to {leaf.NotAfter.ToUniversalTime():u}, SHA-256 {leaf.GetCertHashString(HashAlgorithmName.SHA256)}";
        return false;
    }

    private bool ChainsToPrivateRoot(X509Certificate2 leaf, X509Chain? presented, out string status)
    {
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(privateRoots!);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        var built = custom.Build(leaf);
        status = StatusOf(custom);
        return built;
    }

    private static string StatusOf(X509Chain? chain) =>
        chain is null || chain.ChainStatus.Length == 0
            ? "no chain status"
            : string.Join(", ", chain.ChainStatus.Select(s => s.Status).Distinct());

    private static string NamesOf(X509Certificate2 certificate)
    {
        if (certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault() is not { } names)
        {
            return "no subject alternative names";
        }

        var all = names.EnumerateDnsNames().Concat(names.EnumerateIPAddresses().Select(ip => ip.ToString())).ToList();
        return all.Count == 0 ? "no DNS names or addresses" : string.Join(", ", all);
    }
}
