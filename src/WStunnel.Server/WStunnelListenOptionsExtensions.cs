using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.Server.Endpoints;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Kestrel endpoint options for WStunnel gateways.</summary>
public static class WStunnelListenOptionsExtensions
{
    /// <summary>
    /// Lets agents' WebSocket connections on this endpoint leave Kestrel's HTTP/1.1 processing once
    /// admitted: the gateway then holds ≈ 9 KiB less per idle agent (27.6 instead of 36.9 KiB at
    /// 10,000 agents). Call it after <c>UseHttps</c>.
    /// Each new connection's first request head is read here; an agent's WebSocket upgrade to a
    /// <c>MapWStunnel</c> path is admitted by WStunnel's own rules (tokens, agent secrets and
    /// certificates, <c>WStunnel:RateLimits</c>, <c>WStunnel:Limits</c>) and answered here; any other
    /// connection goes on to Kestrel untouched. Agents admitted this way skip the application's HTTP
    /// middleware (authentication, forwarded headers, request logging), so use it on endpoints agents
    /// reach directly. <c>RequireHost</c> on the agent endpoint is applied as routing applies it. It
    /// stands aside (logged once) where it cannot keep the endpoint's rules whole:
    /// <c>WStunnel:DirectAgentConnections</c> or <c>WStunnel:TlsWriteThrough</c> off, other metadata
    /// on the agent endpoint that asks something of a request (authorization, CORS, rate limiting,
    /// …), a pattern with parameters, no TLS before it, HTTP/2.
    /// </summary>
    public static ListenOptions UseWStunnelAgents(this ListenOptions listenOptions)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        var limits = listenOptions.KestrelServerOptions.Limits;
        listenOptions.Use(next => ActivatorUtilities.CreateInstance<DirectAgentConnections>(listenOptions.ApplicationServices, next, limits).OnConnectionAsync);
        return listenOptions;
    }
}
