namespace WStunnel.Server;

/// <summary>
/// A named tunnel: which token may serve it. Give exactly one of <see cref="Token"/>,
/// <see cref="TokenFile"/> or <see cref="TokenEnvironmentVariable"/>, so no secret has to sit in routes.
/// </summary>
public sealed class WStunnelTunnelOptions
{
    /// <summary>The token itself (prefer a file or an environment variable).</summary>
    public string? Token { get; set; }

    /// <summary>
    /// A file whose content (trimmed) is the token; read again every minute (and on SIGHUP with
    /// <c>wstunnel server</c>), so a rotated token applies without a restart.
    /// </summary>
    public string? TokenFile { get; set; }

    /// <summary>An environment variable that holds the token.</summary>
    public string? TokenEnvironmentVariable { get; set; }

    /// <summary>
    /// A secret that agents serving this tunnel must present besides the token (header
    /// <c>X-WStunnel-Secret</c>, compared in constant time). Clients know a tunnel's token — it is in
    /// the URLs they call — so without a secret anyone who can call the tunnel could also register
    /// an agent for it. Give at most one of this, <see cref="AgentSecretFile"/> or
    /// <see cref="AgentSecretEnvironmentVariable"/>; none admits agents by token alone.
    /// </summary>
    public string? AgentSecret { get; set; }

    /// <summary>
    /// A file whose content (trimmed) is the agent secret; read again every minute (and on SIGHUP with
    /// <c>wstunnel server</c>), so a rotated secret applies without a restart.
    /// </summary>
    public string? AgentSecretFile { get; set; }

    /// <summary>An environment variable that holds the agent secret.</summary>
    public string? AgentSecretEnvironmentVariable { get; set; }

    /// <summary>
    /// The agents allowed to serve this tunnel, by client certificate (needs
    /// <see cref="WStunnelAgentCertificateOptions.Required"/>): each entry is a SHA-256 thumbprint in
    /// hex, a subject such as <c>CN=build-agent</c>, or <c>dns:NAME</c> for a DNS name in the
    /// certificate. Empty: any trusted agent certificate.
    /// </summary>
    public IList<string> AgentIdentities { get; } = [];

    /// <summary>
    /// How many agents may serve this tunnel at once. Default 1: an agent that registers the tunnel
    /// replaces the one there. Above 1 the tunnel is a pool: agents join it (up to this many with a
    /// live connection), requests are spread over the agents that take them, and an agent whose
    /// connection breaks gets no new requests from that moment.
    /// </summary>
    public int MaxAgents { get; set; } = 1;

    /// <summary>
    /// How a pool spreads requests: <c>LeastRequests</c> (default: the agent with the fewest requests
    /// in flight) or <c>RoundRobin</c> — YARP's names for the same policies.
    /// </summary>
    public string LoadBalancingPolicy { get; set; } = "LeastRequests";
}
