namespace WStunnel.Server;

/// <summary>
/// Requests for a tunnel whose agent is momentarily away wait for it, their bodies unread, instead
/// of failing: the HTTP client never learns the tunnel blinked.
/// </summary>
public sealed class WStunnelQueueOptions
{
    /// <summary>How long after its agent left a tunnel still queues requests (then: 502). Default: 60 s.</summary>
    public TimeSpan RetentionAfterDisconnect { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one request may wait for the agent before it gets 504. Default: 30 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Requests one tunnel may have waiting; more get 503 with Retry-After. Default: 100.</summary>
    public int MaxPerTunnel { get; set; } = 100;

    /// <summary>Requests all tunnels together may have waiting; more get 503 with Retry-After. Default: 10,000.</summary>
    public int MaxTotal { get; set; } = 10_000;
}
