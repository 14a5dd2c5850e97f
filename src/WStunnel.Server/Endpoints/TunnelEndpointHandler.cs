using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;
using WStunnel.Protocol.Transports;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Endpoints;

/// <summary>
/// Accepts an agent: checks its registration request, upgrades to a WebSocket, runs the tunnel
/// session and keeps the tunnel registered for as long as the session lives.
/// </summary>
internal sealed class TunnelEndpointHandler(
    TunnelRegistry registry,
    IOptions<WStunnelOptions> options,
    TimeProvider time,
    ILogger<TunnelEndpointHandler> logger)
{
    private readonly WStunnelOptions _options = options.Value;

    public async Task HandleAsync(HttpContext context)
    {
        var remote = context.Connection.RemoteIpAddress;
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, "WStunnel agents connect with a WebSocket upgrade (GET with Upgrade: websocket).").ConfigureAwait(false);
            return;
        }

        if (!context.WebSockets.WebSocketRequestedProtocols.Contains(WebSocketTransport.SubProtocol))
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, $"Unsupported tunnel protocol: this gateway speaks the WebSocket subprotocol '{WebSocketTransport.SubProtocol}'.").ConfigureAwait(false);
            return;
        }

        var token = context.Request.Headers[AgentHeaders.Token].ToString().Trim();
        if (token.Length == 0)
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, $"Missing {AgentHeaders.Token} header: the agent must announce its token.").ConfigureAwait(false);
            return;
        }

        if (token.Length < _options.MinimumTokenLength)
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, $"Token too short: tokens must be at least {_options.MinimumTokenLength} characters.").ConfigureAwait(false);
            return;
        }

        var tunnel = registry.ForRegistration(token);
        if (tunnel is null)
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, "This gateway only accepts the tokens it is configured with.").ConfigureAwait(false);
            return;
        }

        var webSocket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = WebSocketTransport.SubProtocol,
            KeepAliveInterval = _options.KeepAliveInterval,
            KeepAliveTimeout = _options.KeepAliveTimeout,
        }).ConfigureAwait(false);

        TunnelSession session;
        TunnelSession? attached = null;
        TunnelSession? replaced = null;
        try
        {
            // Attached before the gateway's hello goes out: once the agent sees it, requests reach it.
            session = await TunnelSession.StartAsync(new WebSocketTransport(webSocket), SessionOptions(), SessionRole.Gateway, null, context.RequestAborted,
                established =>
                {
                    attached = established;
                    replaced = tunnel.Attach(established);
                }).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TunnelProtocolException or TimeoutException or WebSocketException or OperationCanceledException or IOException)
        {
            ServerLog.HandshakeFailed(logger, remote, ex.Message);
            webSocket.Abort();
            if (attached is not null)
            {
                registry.Detach(tunnel, attached);
                if (replaced is { IsAvailable: true })
                {
                    tunnel.Attach(replaced); // the handshake that would have replaced it failed; keep serving
                }
            }

            return;
        }

        await RunAsync(tunnel, session, replaced, context).ConfigureAwait(false);
    }

    private async Task RunAsync(TunnelEntry tunnel, TunnelSession session, TunnelSession? replaced, HttpContext context)
    {
        ServerLog.AgentConnected(logger, tunnel.DisplayName, context.Connection.RemoteIpAddress, session.TransportName, session.SessionId);
        if (replaced is not null)
        {
            // The same token reconnected: its old connection is most likely dead. Let its streams finish briefly.
            ServerLog.SessionReplaced(logger, tunnel.DisplayName, session.SessionId, replaced.SessionId);
            _ = replaced.CloseAsync(_options.ShutdownGracePeriod);
        }

        using (context.RequestAborted.Register(static s => ((TunnelSession)s!).Abort(new IOException("the agent's connection was aborted")), session))
        {
            await session.Completion.ConfigureAwait(false);
        }

        registry.Detach(tunnel, session);
        switch (session.Failure)
        {
            case TunnelProtocolException protocol:
                ServerLog.ProtocolError(logger, tunnel.DisplayName, session.SessionId, protocol.Message);
                break;
            case { } failure:
                ServerLog.AgentDisconnected(logger, tunnel.DisplayName, session.SessionId, failure.Message);
                break;
            default:
                ServerLog.AgentDisconnected(logger, tunnel.DisplayName, session.SessionId, "closed");
                break;
        }
    }

    private TunnelSessionOptions SessionOptions() => new()
    {
        Limits = new SessionLimits
        {
            MaxFramePayload = _options.Limits.MaxFramePayload,
            InitialStreamWindow = _options.Limits.StreamWindow,
            InitialSessionWindow = _options.Limits.SessionWindow,
            MaxConcurrentStreams = _options.Limits.MaxConcurrentStreams,
            MaxHeaderBytes = _options.Limits.MaxHeaderBytes,
        },
        HandshakeTimeout = _options.HandshakeTimeout,
        KeepAliveInterval = _options.KeepAliveInterval,
        KeepAliveTimeout = _options.KeepAliveTimeout,
        TimeProvider = time,
    };

    private async Task RefuseAsync(HttpContext context, int status, string message)
    {
        ServerLog.RegistrationRefused(logger, context.Connection.RemoteIpAddress, status, message);
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message + "\n", context.RequestAborted).ConfigureAwait(false);
    }
}
