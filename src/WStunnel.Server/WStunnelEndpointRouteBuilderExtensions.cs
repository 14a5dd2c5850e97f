using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.Protocol.Transports.LongPoll;
using WStunnel.Server.Endpoints;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the endpoints WStunnel agents connect to.</summary>
public static class WStunnelEndpointRouteBuilderExtensions
{
    /// <summary>The original WStunnel's health check answer.</summary>
    public const string HealthCheckResponse = "WSTUNSRV RUNNING";

    /// <summary>
    /// Maps the agent endpoints at <paramref name="pattern"/> (WebSocket, and the long-poll
    /// <c>connect</c>, <c>poll</c>, <c>send</c> and <c>close</c> beneath it) and the health check at
    /// <c>/_health_check</c>. The returned builder applies to the agent endpoints only, so
    /// <c>.RequireHost(...)</c> or <c>.RequireAuthorization(...)</c> guard them without touching the public routes.
    /// </summary>
    public static IEndpointConventionBuilder MapWStunnel(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern = "/_tunnel")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        var webSockets = endpoints.ServiceProvider.GetService<WebSocketEndpoint>()
            ?? throw new InvalidOperationException("Call services.AddReverseProxy().AddWStunnel() before MapWStunnel().");
        var longPoll = endpoints.ServiceProvider.GetRequiredService<LongPollEndpoints>();

        if (!endpoints.DataSources.SelectMany(d => d.Endpoints).Any(e => e.DisplayName == HealthCheckEndpointName))
        {
            endpoints.MapGet("/_health_check", () => Results.Text(HealthCheckResponse, "text/plain")).WithDisplayName(HealthCheckEndpointName);
        }

        var group = endpoints.MapGroup(pattern);
        // Any method: WebSockets over HTTP/2 (RFC 8441, e.g. through a YARP or other HTTP/2 hop) arrive as CONNECT.
        group.Map("", webSockets.HandleAsync).WithDisplayName("WStunnel agent (WebSocket)");
        group.MapPost(LongPollProtocol.ConnectPath, longPoll.ConnectAsync).WithDisplayName("WStunnel agent (long-poll connect)");
        group.MapPost(LongPollProtocol.PollPath, longPoll.PollAsync).WithDisplayName("WStunnel agent (long-poll poll)");
        group.MapPost(LongPollProtocol.SendPath, longPoll.SendAsync).WithDisplayName("WStunnel agent (long-poll send)");
        group.MapPost(LongPollProtocol.ClosePath, longPoll.CloseAsync).WithDisplayName("WStunnel agent (long-poll close)");
        return group;
    }

    private const string HealthCheckEndpointName = "WStunnel health check";
}
