using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;
using WStunnel.Protocol.Transports;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Endpoints;

/// <summary>
/// Runs one agent's session on whatever transport carries it, and keeps the tunnel registered for
/// exactly as long as the session lives.
/// </summary>
internal sealed class TunnelSessionRunner(
    TunnelRegistry registry,
    GatewayMetrics metrics,
    IOptions<WStunnelOptions> options,
    TimeProvider time,
    ILogger<TunnelSessionRunner> logger)
{
    private readonly WStunnelOptions _options = options.Value;

    /// <summary>
    /// Runs <paramref name="transport"/> for an agent: a new session, or the agent's detached session
    /// resumed on it. Returns when this connection stops carrying the session.
    /// </summary>
    public async Task RunAsync(TunnelEntry tunnel, AgentIdentity agent, ITunnelTransport transport, CancellationToken aborted)
    {
        var remote = agent.Address;
        TunnelSession session;
        TunnelSession? created = null;
        TunnelSession? replaced = null;
        try
        {
            // A new session is attached before the gateway's hello goes out: once the agent sees it, requests reach it.
            session = await TunnelSession.StartAsync(transport, SessionOptions(), SessionRole.Gateway, null, aborted,
                onEstablished: established =>
                {
                    created = established;
                    replaced = tunnel.Attach(established);
                },
                findResumable: id => registry.FindResumable(id, tunnel)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TunnelProtocolException or TimeoutException or WebSocketException or OperationCanceledException or IOException)
        {
            ServerLog.HandshakeFailed(logger, remote, ex.Message);
            transport.Abort();
            if (created is not null)
            {
                registry.Detach(tunnel, created);
                if (replaced is { IsAvailable: true })
                {
                    tunnel.Attach(replaced); // the handshake that would have replaced it failed; keep serving
                }
            }

            return;
        }

        var attachment = session.AttachmentEnded;
        if (!ReferenceEquals(session, created))
        {
            ServerLog.SessionResumed(logger, tunnel.DisplayName, remote, session.TransportName, session.SessionId);
            metrics.Resumed();
            tunnel.Attach(session); // lets requests that queued meanwhile go
        }
        else
        {
            ServerLog.AgentConnected(logger, tunnel.DisplayName, remote, session.TransportName, session.SessionId);
            registry.AddSession(tunnel, session, agent);
            _ = ForgetWhenEndedAsync(tunnel, session);
            if (replaced is not null && !ReferenceEquals(replaced, session))
            {
                // The same token connected afresh: its old session cannot be resumed any more. If it still has
                // a connection its streams may finish briefly; if not (the agent restarted), nothing can finish them.
                ServerLog.SessionReplaced(logger, tunnel.DisplayName, session.SessionId, replaced.SessionId);
                if (replaced.IsDetached)
                {
                    replaced.Abort(new IOException("the agent started a new session instead of resuming this one"));
                }
                else
                {
                    _ = replaced.CloseAsync(_options.ShutdownGracePeriod, CancellationToken.None);
                }
            }
        }

        await attachment.ConfigureAwait(false);
        if (session.IsDetached)
        {
            ServerLog.ConnectionLost(logger, tunnel.DisplayName, session.SessionId, session.DetachReason?.Message ?? "unknown", _options.ResumeWindow);
        }
    }

    private async Task ForgetWhenEndedAsync(TunnelEntry tunnel, TunnelSession session)
    {
        await session.Completion.ConfigureAwait(false);
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
        ResumeWindow = _options.ResumeWindow,
        MaxReplayBytes = _options.Limits.MaxReplayBytes,
        TimeProvider = time,
        Features = SessionFeatures.Upgrades | SessionFeatures.ExpectContinue,
    };
}
