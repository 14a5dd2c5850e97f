using System.Security.Cryptography.X509Certificates;

namespace WStunnel.Server;

/// <summary>
/// Client certificates for agents: with <see cref="Required"/> set, an agent registers only with a
/// certificate for client authentication that chains to <see cref="TrustedCaFile"/>. The HTTPS
/// endpoint agents use must ask for client certificates (Kestrel's <c>ClientCertificateMode</c>
/// <c>AllowCertificate</c>, trusting the chain here rather than at the handshake); the standalone
/// gateway does that itself.
/// </summary>
public sealed class WStunnelAgentCertificateOptions
{
    /// <summary>Whether agents must present a trusted client certificate. Default: false.</summary>
    public bool Required { get; set; }

    /// <summary>PEM file of the CA certificate(s) agent certificates must chain to; only these are trusted.</summary>
    public string? TrustedCaFile { get; set; }

    /// <summary>
    /// How revocation of agent certificates is checked. Default: <see cref="X509RevocationMode.NoCheck"/>,
    /// because private CAs often publish no revocation list; set Online where they do.
    /// </summary>
    public X509RevocationMode RevocationMode { get; set; } = X509RevocationMode.NoCheck;
}
