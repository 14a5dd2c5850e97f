using WStunnel.Protocol.Frames;

namespace WStunnel.Protocol.Session;

/// <summary>How one end runs its sessions.</summary>
internal sealed record TunnelSessionOptions
{
    /// <summary>Limits this end enforces on what it receives.</summary>
    public SessionLimits Limits { get; init; } = SessionLimits.Default;

    /// <summary>How long the peer has to send its hello.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Silence after which a ping is sent.</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Silence after which the peer is declared gone; <see cref="Timeout.InfiniteTimeSpan"/> disables the check.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(45);

    /// <summary>
    /// How long a session whose connection was lost waits for the agent to continue it on a new
    /// one; <see cref="TimeSpan.Zero"/> ends the session with its connection instead.
    /// </summary>
    public TimeSpan ResumeWindow { get; init; } = TimeSpan.Zero;

    /// <summary>Most bytes of unacknowledged frames kept for a resume; beyond it the session stops being resumable.</summary>
    public long MaxReplayBytes { get; init; } = 64L * 1024 * 1024;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>What this end's application handles beyond the base protocol, announced to the peer.</summary>
    public SessionFeatures Features { get; init; }

    /// <summary>
    /// Told the stream id and the reason when the peer opened a stream with a request head this end
    /// cannot accept (malformed, or a form the agent never forwards), or whose handler threw before
    /// its first wait. That stream was reset; the session goes on. The reason never contains header
    /// values (of a handler's exception, only its type).
    /// </summary>
    public Action<uint, string>? OnStreamRejected { get; init; }
}
