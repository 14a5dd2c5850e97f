using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.Protocol.Transports.LongPoll;
using WStunnel.Server.Endpoints;
using WStunnel.Server.Status;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the endpoints WStunnel agents connect to.</summary>
public static class WStunnelEndpointRouteBuilderExtensions
{
    /// <summary>The original WStunnel's health check answer.</summary>
    public const string HealthCheckResponse = "WSTUNSRV RUNNING";

    /// <summary>
    /// Maps the agent endpoints at <paramref name="pattern"/> (WebSocket, and the long-poll
    /// <c>connect</c>, <c>poll</c>, <c>send</c> and <c>close</c> beneath it) and the health checks at
    /// <c>/_health_check</c> (the original's text) and <c>/healthz</c> (ASP.NET Core health checks:
    /// 503 while the gateway stops). The returned builder applies to the agent endpoints only, so
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
            endpoints.MapHealthChecks("/healthz").WithDisplayName("WStunnel health checks");
        }

        var group = endpoints.MapGroup(pattern);
        // Any method: WebSockets over HTTP/2 (RFC 8441, e.g. through a YARP or other HTTP/2 hop) arrive as CONNECT.
        group.Map("", webSockets.HandleAsync).WithDisplayName("WStunnel agent (WebSocket)").WithMetadata(AgentRoutes.WebSocketEndpoint);
        group.MapPost(LongPollProtocol.ConnectPath, longPoll.ConnectAsync).WithDisplayName("WStunnel agent (long-poll connect)");
        group.MapPost(LongPollProtocol.PollPath, longPoll.PollAsync).WithDisplayName("WStunnel agent (long-poll poll)");
        group.MapPost(LongPollProtocol.SendPath, longPoll.SendAsync).WithDisplayName("WStunnel agent (long-poll send)");
        group.MapPost(LongPollProtocol.ClosePath, longPoll.CloseAsync).WithDisplayName("WStunnel agent (long-poll close)");
        return group;
    }

    /// <summary>
    /// Maps the gateway's status at <paramref name="pattern"/>: the original WStunnel's <c>key=value</c>
    /// lines, <c>/json</c> beneath it for tools (tunnels by name or token fingerprint, agent addresses
    /// and identities, transports, in-flight and queued requests, traffic) and <c>/ui</c> for people (with <c>WStunnel:Status:Page</c>).
    /// Callers from loopback and <c>WStunnel:Status:AllowedNetworks</c> only; chain
    /// <c>.RequireAuthorization(...)</c> to ask for a login as well.
    /// </summary>
    public static IEndpointConventionBuilder MapWStunnelStatus(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern = "/_stats")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        var status = endpoints.ServiceProvider.GetService<StatusEndpoints>()
            ?? throw new InvalidOperationException("Call services.AddReverseProxy().AddWStunnel() before MapWStunnelStatus().");

        var group = endpoints.MapGroup(pattern);
        group.MapGet("", status.TextAsync).WithDisplayName("WStunnel status (text)");
        group.MapGet("/json", status.JsonAsync).WithDisplayName("WStunnel status (JSON)");
        foreach (var file in (string[])["ui", "ui.js", "ui.css"])
        {
            group.MapGet("/" + file, context => status.PageAsync(context, file)).WithDisplayName($"WStunnel status page ({file})");
        }

        return group;
    }

    private const string HealthCheckEndpointName = "WStunnel health check";
}
