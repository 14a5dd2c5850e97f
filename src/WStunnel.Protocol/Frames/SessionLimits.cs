namespace WStunnel.Protocol.Frames;

/// <summary>Limits one side enforces on what it receives; announced in <see cref="HelloMessage"/>.</summary>
internal sealed record SessionLimits
{
    public const int MinFramePayload = 1024;
    public const int MaxFramePayloadCeiling = 1024 * 1024;

    /// <summary>Largest frame payload accepted; data frames are cut to fit, heads must fit.</summary>
    public int MaxFramePayload { get; init; } = 64 * 1024;

    /// <summary>Bytes a peer may send on one stream before it is granted more: bounds memory per stream.</summary>
    public int InitialStreamWindow { get; init; } = 1024 * 1024;

    /// <summary>Bytes a peer may have unconsumed across all streams: bounds memory per session.</summary>
    public int InitialSessionWindow { get; init; } = 16 * 1024 * 1024;

    /// <summary>Streams the peer may have open at once.</summary>
    public int MaxConcurrentStreams { get; init; } = 512;

    /// <summary>Largest encoded request or response head (or trailers) accepted.</summary>
    public int MaxHeaderBytes { get; init; } = 64 * 1024;

    public static SessionLimits Default { get; } = new();
}
