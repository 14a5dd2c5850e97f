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

    /// <summary>
    /// Where TLS ends in front of the gateway (a load balancer, a reverse proxy): the request header in
    /// which that proxy passes the agent's certificate — URL-encoded PEM (nginx's
    /// <c>$ssl_client_escaped_cert</c>), base64 DER (<c>X-ARR-ClientCert</c>) or RFC 9440's
    /// <c>Client-Cert</c>. Honoured only on connections from <see cref="ForwardingProxies"/>; from any
    /// other address the header is ignored, as it always is when this is not set.
    /// </summary>
    public string? ForwardedHeader { get; set; }

    /// <summary>
    /// The proxies whose <see cref="ForwardedHeader"/> is believed: IP addresses or CIDR networks
    /// (<c>10.0.0.0/8</c>). Required, and must not be empty, when <see cref="ForwardedHeader"/> is set.
    /// </summary>
    public IList<string> ForwardingProxies { get; } = [];
}
