using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace WStunnel.Server.Endpoints;

/// <summary>
/// Where agents' WebSockets are mapped, as far as a connection middleware can know it before
/// routing: literal paths of <c>MapWStunnel</c> calls on the application itself, none of which
/// carries conventions that only the HTTP pipeline would apply.
/// </summary>
internal sealed class AgentRoutes
{
    private volatile string[] _paths = [];
    private volatile string? _problem;

    /// <summary>The agent WebSocket paths (absolute, no trailing slash); empty while direct connections are unavailable.</summary>
    public IReadOnlyList<string> Paths => Unavailable is null ? _paths : [];

    /// <summary>Why agents cannot connect directly, or null when they can.</summary>
    public string? Unavailable => _problem ?? (_paths.Length == 0 ? "MapWStunnel() has not been called" : null);

    /// <summary>Records the agent endpoints <c>MapWStunnel</c> maps, and wraps their builder to notice conventions.</summary>
    public IEndpointConventionBuilder Record(IEndpointRouteBuilder endpoints, string pattern, IEndpointConventionBuilder group)
    {
        var route = RoutePatternFactory.Parse(pattern);
        if (endpoints is RouteGroupBuilder)
        {
            _problem = "MapWStunnel() is called on a route group, whose prefix and conventions only routing knows";
        }
        else if (route.Parameters.Count > 0 || route.PathSegments.Count == 0)
        {
            _problem = $"the agent route '{pattern}' is not a literal path";
        }
        else
        {
            var path = "/" + string.Join('/', route.PathSegments.Select(s => ((RoutePatternLiteralPart)s.Parts[0]).Content));
            _paths = [.. _paths, path];
        }

        return new ConventionWatcher(group, this);
    }

    private const string ConventionsProblem = "MapWStunnel()'s endpoints carry conventions (e.g. RequireAuthorization) that only the HTTP pipeline applies";

    /// <summary>
    /// Conventions on the agent endpoints (authorization, host filters, rate limiting, …) run in the HTTP
    /// pipeline; a direct connection would skip them, so any convention keeps agents on that pipeline.
    /// </summary>
    private sealed class ConventionWatcher(IEndpointConventionBuilder inner, AgentRoutes routes) : IEndpointConventionBuilder
    {
        public void Add(Action<EndpointBuilder> convention)
        {
            routes._problem = ConventionsProblem;
            inner.Add(convention);
        }

        public void Finally(Action<EndpointBuilder> finallyConvention)
        {
            routes._problem = ConventionsProblem;
            inner.Finally(finallyConvention);
        }
    }
}
