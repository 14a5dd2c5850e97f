using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace WStunnel.Agent.Configuration;

/// <summary>Loads the client certificate the agent presents to gateways that require one.</summary>
internal static class AgentClientCertificate
{
    /// <summary>The certificate with its private key, or null when none is configured; messages name the settings.</summary>
    public static X509Certificate2? Load(WStunnelAgentOptions options)
    {
        if (string.IsNullOrEmpty(options.ClientCertificateFile))
        {
            return string.IsNullOrEmpty(options.ClientKeyFile)
                ? null
                : throw new InvalidOperationException("ClientKeyFile is set without ClientCertificateFile.");
        }

        X509Certificate2 certificate;
        try
        {
            certificate = string.IsNullOrEmpty(options.ClientKeyFile)
                ? X509CertificateLoader.LoadPkcs12FromFile(options.ClientCertificateFile, password: null)
                : X509Certificate2.CreateFromPemFile(options.ClientCertificateFile, options.ClientKeyFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            var what = string.IsNullOrEmpty(options.ClientKeyFile) ? "a PFX file without a password" : "a PEM certificate with the PEM key in ClientKeyFile";
            throw new InvalidOperationException($"ClientCertificateFile '{options.ClientCertificateFile}' cannot be loaded as {what}: {ex.Message}", ex);
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new InvalidOperationException($"ClientCertificateFile '{options.ClientCertificateFile}' has no private key: the agent cannot prove it owns the certificate.");
        }

        return certificate;
    }
}
