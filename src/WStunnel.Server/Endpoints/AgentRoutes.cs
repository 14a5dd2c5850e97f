using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;

namespace WStunnel.Server.Endpoints;

/// <summary>One agent WebSocket endpoint as a connection middleware can serve it: its literal path and the hosts it requires.</summary>
/// <param name="Path">Absolute, no trailing slash; compared without regard to case, as routing does.</param>
/// <param name="Hosts">From <c>RequireHost</c>; empty for any host.</param>
internal sealed record AgentRoute(string Path, IReadOnlyList<string> Hosts)
{
    /// <summary>
    /// Whether a request with this Host header (over TLS) meets <see cref="Hosts"/> as routing's host
    /// matcher judges it: names without regard to case, <c>*.suffix</c> for any name under it, <c>*</c>
    /// for any; a port, when given, against the request's (443 when it names none). A host it cannot
    /// read is no match, which leaves the request to routing itself.
    /// </summary>
    public bool Accepts(string hostHeader)
    {
        if (Hosts.Count == 0)
        {
            return true;
        }

        var requested = new HostString(hostHeader);
        var requestedPort = requested.Port ?? 443;
        foreach (var host in Hosts)
        {
            var parts = host.Split(':');
            if (parts.Length > 2 || parts[0].Length == 0)
            {
                continue;
            }

            var portMatches = parts.Length == 1 || parts[1] == "*"
                || (int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port == requestedPort);
            var name = parts[0];
            var nameMatches = name == "*"
                || (name.StartsWith("*.", StringComparison.Ordinal)
                    ? requested.Host.EndsWith(name[1..], StringComparison.OrdinalIgnoreCase)
                    : requested.Host.Equals(name, StringComparison.OrdinalIgnoreCase));
            if (portMatches && nameMatches)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// The agent WebSocket endpoints <c>MapWStunnel</c> mapped, read from the application's built
/// endpoints once it runs, and whether a connection middleware can apply everything they carry.
/// Metadata it cannot apply — authorization, CORS, rate limiting, filters, anything it does not
/// know — runs only in the HTTP pipeline, so such an endpoint keeps agents on that pipeline.
/// </summary>
internal sealed class AgentRoutes(IServiceProvider services)
{
    /// <summary>Marks the WebSocket endpoint of each <c>MapWStunnel</c> call.</summary>
    public static readonly object WebSocketEndpoint = new AgentWebSocketEndpointMetadata();

    private readonly Lock _lock = new();
    private volatile Snapshot? _snapshot;

    /// <summary>The routes agents may connect to directly; empty while direct connections are unavailable.</summary>
    public IReadOnlyList<AgentRoute> Routes => Current().Routes;

    /// <summary>Why agents cannot connect directly, or null when they can.</summary>
    public string? Unavailable => Current().Unavailable;

    private Snapshot Current()
    {
        if (_snapshot is { } snapshot)
        {
            return snapshot;
        }

        lock (_lock)
        {
            // Endpoints are complete once the application runs, which is before Kestrel accepts a connection.
            return _snapshot ??= Read(services.GetService<EndpointDataSource>()?.Endpoints ?? []);
        }
    }

    internal static Snapshot Read(IEnumerable<Endpoint> endpoints)
    {
        var routes = new List<AgentRoute>();
        foreach (var endpoint in endpoints)
        {
            if (endpoint.Metadata.GetMetadata<AgentWebSocketEndpointMetadata>() is null)
            {
                continue;
            }

            if (endpoint is not RouteEndpoint { RoutePattern: var pattern } || pattern.Parameters.Count > 0 || pattern.PathSegments.Count == 0)
            {
                return new([], $"the agent route '{(endpoint as RouteEndpoint)?.RoutePattern.RawText}' is not a literal path");
            }

            if (endpoint.Metadata.FirstOrDefault(item => item is not IHostMetadata && !IsDescriptive(item)) is { } requirement)
            {
                return new([], $"the agent endpoint carries {requirement.GetType().Name}, which only the HTTP pipeline applies");
            }

            // As routing: the last host metadata (the endpoint's own over its group's) decides.
            var hosts = endpoint.Metadata.GetMetadata<IHostMetadata>()?.Hosts ?? [];
            var path = "/" + string.Join('/', pattern.PathSegments.Select(s => ((RoutePatternLiteralPart)s.Parts[0]).Content));
            routes.Add(new AgentRoute(path, hosts));
        }

        return routes.Count == 0 ? new([], "MapWStunnel() has not been called") : new(routes, null);
    }

    /// <summary>Metadata that describes the endpoint and asks nothing of a request.</summary>
    private static bool IsDescriptive(object item) => item
        is AgentWebSocketEndpointMetadata or MethodInfo or IRouteDiagnosticsMetadata
        or IEndpointNameMetadata or IRouteNameMetadata or ITagsMetadata or IEndpointDescriptionMetadata
        or IEndpointSummaryMetadata or IExcludeFromDescriptionMetadata or IEndpointGroupNameMetadata
        || (item is Attribute && item.GetType().Namespace is "System.Runtime.CompilerServices" or "System.Diagnostics");

    /// <summary>The agent routes, or why there are none a connection middleware may serve.</summary>
    internal sealed record Snapshot(IReadOnlyList<AgentRoute> Routes, string? Unavailable);

    private sealed class AgentWebSocketEndpointMetadata;
}
