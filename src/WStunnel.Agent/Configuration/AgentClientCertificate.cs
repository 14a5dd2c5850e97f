using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace WStunnel.Agent.Configuration;

/// <summary>Loads the client certificate the agent presents to gateways that require one.</summary>
internal static class AgentClientCertificate
{
    /// <summary>The certificate with its private key, or null when none is configured; messages name the settings.</summary>
    public static X509Certificate2? Load(WStunnelAgentOptions options) =>
        Read(options) is { } files ? Load(options, files) : null;

    /// <summary>The bytes of the certificate file (and key file), with a fingerprint to notice a change; null when none is configured.</summary>
    public static Files? Read(WStunnelAgentOptions options)
    {
        if (string.IsNullOrEmpty(options.ClientCertificateFile))
        {
            return string.IsNullOrEmpty(options.ClientKeyFile)
                ? null
                : throw new InvalidOperationException("ClientKeyFile is set without ClientCertificateFile.");
        }

        try
        {
            var certificate = File.ReadAllBytes(options.ClientCertificateFile);
            var key = string.IsNullOrEmpty(options.ClientKeyFile) ? null : File.ReadAllBytes(options.ClientKeyFile);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hash.AppendData(certificate);
            hash.AppendData(key ?? []);
            return new Files(certificate, key, Convert.ToHexString(hash.GetHashAndReset()));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"ClientCertificateFile '{options.ClientCertificateFile}' cannot be read: {ex.Message}", ex);
        }
    }

    /// <summary>The certificate <paramref name="files"/> hold, with its private key; messages name the settings.</summary>
    public static X509Certificate2 Load(WStunnelAgentOptions options, Files files)
    {
        ArgumentNullException.ThrowIfNull(files);
        X509Certificate2 certificate;
        try
        {
            certificate = files.Key is null
                ? X509CertificateLoader.LoadPkcs12(files.Certificate, password: null)
                : X509Certificate2.CreateFromPem(Encoding.ASCII.GetString(files.Certificate), Encoding.ASCII.GetString(files.Key));
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException) // ArgumentException: the key of another certificate
        {
            var what = files.Key is null ? "a PFX file without a password" : "a PEM certificate with the PEM key in ClientKeyFile";
            throw new InvalidOperationException($"ClientCertificateFile '{options.ClientCertificateFile}' cannot be loaded as {what}: {ex.Message}", ex);
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new InvalidOperationException($"ClientCertificateFile '{options.ClientCertificateFile}' has no private key: the agent cannot prove it owns the certificate.");
        }

        return certificate;
    }

    /// <summary>The client certificate's files at one moment.</summary>
    internal sealed record Files(byte[] Certificate, byte[]? Key, string Fingerprint);
}
