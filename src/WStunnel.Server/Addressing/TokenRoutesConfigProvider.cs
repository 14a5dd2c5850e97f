using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace WStunnel.Server.Addressing;

/// <summary>
/// Publishes the few catch-all routes that token addressing needs, beside the user's own YARP
/// configuration. They change only when the <c>WStunnel</c> section does: agents connecting and
/// leaving never rebuild YARP's configuration.
/// </summary>
internal sealed class TokenRoutesConfigProvider : IProxyConfigProvider, IDisposable
{
    public const string ClusterId = "wstunnel-tokens";
    public const string FormMetadataKey = "WStunnel.Addressing";
    public const string DestinationAddress = "wstunnel://token-addressed/";
    private const string CatchAll = "/{**wstunnel-path}";

    private readonly IDisposable? _subscription;
    private volatile Snapshot _snapshot;

    public TokenRoutesConfigProvider(IOptionsMonitor<WStunnelOptions> options)
    {
        _snapshot = Build(options.CurrentValue);
        _subscription = options.OnChange(updated =>
        {
            var old = _snapshot;
            _snapshot = Build(updated);
            old.Signal();
        });
    }

    public IProxyConfig GetConfig() => _snapshot;

    public void Dispose() => _subscription?.Dispose();

    internal static Snapshot Build(WStunnelOptions options)
    {
        var routes = new List<RouteConfig>
        {
            Route(AddressingForm.Header, order: -1002, new RouteMatch
            {
                Path = CatchAll,
                Headers = [new RouteHeader { Name = options.TokenHeader, Mode = HeaderMatchMode.Exists }],
            }),
            Route(AddressingForm.Path, order: -1001, new RouteMatch { Path = options.TokenPathPrefix + CatchAll }),
        };

        if (options.HostSuffixes.Count > 0)
        {
            routes.Add(Route(AddressingForm.HostLabel, order: -1000, new RouteMatch
            {
                Path = CatchAll,
                Hosts = [.. options.HostSuffixes.Select(suffix => "*." + suffix)],
            }));
        }

        if (options.MatchHostAsToken)
        {
            // Last resort: anything no other endpoint or route matched may carry its token as the whole Host.
            routes.Add(Route(AddressingForm.WholeHost, order: int.MaxValue, new RouteMatch { Path = CatchAll }));
        }

        var cluster = new ClusterConfig
        {
            ClusterId = ClusterId,
            Destinations = new Dictionary<string, DestinationConfig> { ["tunnel"] = new() { Address = DestinationAddress } },
            HttpRequest = new ForwarderRequestConfig { ActivityTimeout = options.RequestActivityTimeout },
        };

        return new Snapshot(routes, [cluster]);
    }

    private static RouteConfig Route(AddressingForm form, int order, RouteMatch match) => new()
    {
        RouteId = "wstunnel-token-" + form.ToString().ToLowerInvariant(),
        ClusterId = ClusterId,
        Order = order,
        Match = match,
        Metadata = new Dictionary<string, string> { [FormMetadataKey] = form.ToString() },
    };

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A change source without timers; it is signalled once and collected with the snapshot.")]
    internal sealed class Snapshot(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters) : IProxyConfig
    {
        private readonly CancellationTokenSource _changed = new();

        public IReadOnlyList<RouteConfig> Routes { get; } = routes;

        public IReadOnlyList<ClusterConfig> Clusters { get; } = clusters;

        public IChangeToken ChangeToken => new CancellationChangeToken(_changed.Token);

        public void Signal() => _changed.Cancel();
    }
}
