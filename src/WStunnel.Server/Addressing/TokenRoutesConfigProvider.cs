using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace WStunnel.Server.Addressing;

/// <summary>
/// Publishes the few catch-all routes that token addressing needs, beside the user's own YARP
/// configuration. They are built once from the <c>WStunnel</c> section, which applies for the
/// process's life (<see cref="Configuration.WStunnelConfigurationWatcher"/> says so when it changes):
/// agents connecting and leaving never rebuild YARP's configuration.
/// </summary>
internal sealed class TokenRoutesConfigProvider : IProxyConfigProvider
{
    public const string ClusterId = "wstunnel-tokens";
    public const string FormMetadataKey = "WStunnel.Addressing";
    public const string DestinationAddress = "wstunnel://token-addressed/";
    private const string CatchAll = "/{**wstunnel-path}";

    private readonly Snapshot _snapshot;

    public TokenRoutesConfigProvider(IOptions<WStunnelOptions> options) => _snapshot = Build(options.Value);

    public IProxyConfig GetConfig() => _snapshot;

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

    internal sealed class Snapshot(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters) : IProxyConfig
    {
        public IReadOnlyList<RouteConfig> Routes { get; } = routes;

        public IReadOnlyList<ClusterConfig> Clusters { get; } = clusters;

        /// <summary>Never signalled: these routes do not change while the process runs.</summary>
        public IChangeToken ChangeToken { get; } = new CancellationChangeToken(CancellationToken.None);
    }
}
