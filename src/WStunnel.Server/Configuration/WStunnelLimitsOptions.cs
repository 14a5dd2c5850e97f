namespace WStunnel.Server;

/// <summary>Protocol limits the gateway enforces on what agents send; each bounds memory.</summary>
public sealed class WStunnelLimitsOptions
{
    /// <summary>Largest frame payload accepted. Default: 64 KiB.</summary>
    public int MaxFramePayload { get; set; } = 64 * 1024;

    /// <summary>Response bytes an agent may send ahead on one request. Default: 1 MiB.</summary>
    public int StreamWindow { get; set; } = 1024 * 1024;

    /// <summary>Response bytes an agent may send ahead across all its requests. Default: 16 MiB.</summary>
    public int SessionWindow { get; set; } = 16 * 1024 * 1024;

    /// <summary>Concurrent requests the gateway accepts per tunnel. Default: 512.</summary>
    public int MaxConcurrentStreams { get; set; } = 512;

    /// <summary>Tunnels with a connected agent the gateway serves at once; more agents get 503. Default: 20,000.</summary>
    public int MaxTunnels { get; set; } = 20_000;

    /// <summary>
    /// Agent sessions one agent identity may hold at once — its client certificate where agents need
    /// one, otherwise its address (an IPv6 client by its /64); more get 403. An agent replacing or
    /// resuming its own session is not counted twice. Default: 1,000; 0: no cap.
    /// </summary>
    public int MaxTunnelsPerIdentity { get; set; } = 1000;

    /// <summary>Largest response head or trailers block accepted from an agent. Default: 64 KiB.</summary>
    public int MaxHeaderBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Bytes sent to an agent but not yet acknowledged that the gateway keeps per session, so it can
    /// replay them if the session resumes on a new connection; beyond it the session cannot resume
    /// and its requests fail cleanly instead. Default: 64 MiB.
    /// </summary>
    public long MaxReplayBytes { get; set; } = 64L * 1024 * 1024;
}
