using Microsoft.Extensions.Options;
using WStunnel.Server.Security;

namespace WStunnel.Server.Configuration;

/// <summary>
/// The WStunnel settings that apply while the gateway runs, not only at its start: a change of them in
/// a reloaded configuration — validated as a start would validate it — takes effect for the next
/// request or registration. The rest of the section (limits, timeouts of sessions, addressing) is read
/// at start-up by the parts it shapes.
/// </summary>
internal sealed class LiveSettings
{
    /// <summary>The keys of the <c>WStunnel</c> section this holds (<c>Tunnels</c> apply live through the registry).</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        nameof(WStunnelOptions.RateLimits),
        nameof(WStunnelOptions.Status),
        nameof(WStunnelOptions.Queue),
        nameof(WStunnelOptions.RequestTimeout),
        nameof(WStunnelOptions.AllowUnlistedTokens),
        nameof(WStunnelOptions.TokenRetention),
    ];

    private volatile Snapshot _current;

    public LiveSettings(IOptions<WStunnelOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _current = new Snapshot(options.Value);
    }

    /// <summary>The settings now, read together.</summary>
    public Snapshot Current => _current;

    /// <summary>Takes the live settings of <paramref name="options"/>, which passed validation.</summary>
    public void Apply(WStunnelOptions options) => _current = new Snapshot(options);

    /// <summary>One consistent set of the live settings.</summary>
    internal sealed class Snapshot(WStunnelOptions options)
    {
        public WStunnelRateLimitOptions RateLimits { get; } = options.RateLimits;

        public WStunnelQueueOptions Queue { get; } = options.Queue;

        public TimeSpan? RequestTimeout { get; } = options.RequestTimeout;

        public bool AllowUnlistedTokens { get; } = options.AllowUnlistedTokens;

        public TimeSpan TokenRetention { get; } = options.TokenRetention;

        public bool StatusPage { get; } = options.Status.Page;

        /// <summary>Who may read the status and metrics: loopback and <c>Status:AllowedNetworks</c>.</summary>
        public NetworkList StatusNetworks { get; } = new(["127.0.0.0/8", "::1", .. options.Status.AllowedNetworks]);
    }
}
