using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Options;
using WStunnel.Server.Registry;
using WStunnel.Protocol.Transports;

namespace WStunnel.Server.Endpoints;

/// <summary>Agents that reach the gateway with WebSockets: one upgraded connection per session.</summary>
internal sealed class WebSocketEndpoint(AgentAdmission admission, TunnelSessionRunner runner, TlsBufferRelease tlsBuffers, IOptions<WStunnelOptions> options)
{
    public async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await admission.RefuseAsync(context, StatusCodes.Status400BadRequest,
                "WStunnel agents connect with a WebSocket upgrade (GET with Upgrade: websocket), or with long-poll at ./connect.").ConfigureAwait(false);
            return;
        }

        if (!context.WebSockets.WebSocketRequestedProtocols.Contains(WebSocketTransport.SubProtocol))
        {
            await admission.RefuseAsync(context, StatusCodes.Status400BadRequest,
                $"Unsupported tunnel protocol: this gateway speaks the WebSocket subprotocol '{WebSocketTransport.SubProtocol}'.").ConfigureAwait(false);
            return;
        }

        if (await admission.AdmitAsync(context).ConfigureAwait(false) is not var (tunnel, agent))
        {
            return;
        }

        tlsBuffers.Apply(context.Features.Get<ISslStreamFeature>()?.SslStream);
        var webSocket = await AgentWebSocketAcceptor.AcceptAsync(context, options.Value.TlsWriteThrough).ConfigureAwait(false);
        ForgetRequestHeaders(context.Request);
        await runner.RunAsync(tunnel, agent, new WebSocketTransport(webSocket), context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// The upgrade request lives as long as the tunnel. Its headers are not needed once the WebSocket
    /// is accepted, and they hold the agent's token and secret, which the registry otherwise knows
    /// only by their hashes; dropping them also frees ≈ 0.5 KiB per idle agent. Host stays: the
    /// request's completion is logged with it.
    /// </summary>
    internal static void ForgetRequestHeaders(HttpRequest request)
    {
        var host = request.Headers.Host;
        request.Headers.Clear();
        request.Headers.Host = host;
    }
}
