using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using WStunnel.Agent.Configuration;
using WStunnel.Agent.Connection;
using WStunnel.Agent.Diagnostics;
using WStunnel.Agent.Dispatch;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;
using WStunnel.Protocol.Transports;

namespace WStunnel.Agent;

/// <summary>
/// Keeps one tunnel open to the gateway for as long as it runs: connects, serves streams, and after
/// any failure reconnects with backoff. It never gives up because the network or the gateway failed.
/// </summary>
internal sealed class TunnelAgent : IDisposable
{
    private readonly WStunnelAgentOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly GatewayConnector _connector;
    private readonly TargetDispatcher _dispatcher;
    private readonly string _token;
    private readonly string _fingerprint;
    private readonly ReconnectBackoff _backoff;
    private TunnelSession? _current;

    public TunnelAgent(WStunnelAgentOptions options, ILogger logger, TimeProvider? time = null)
    {
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _token = AgentToken.Read(options);
        _fingerprint = Fingerprint(_token);
        _connector = new GatewayConnector(options, logger);
        _dispatcher = new TargetDispatcher(options, logger);
        _backoff = new ReconnectBackoff(options.ReconnectDelay, options.MaxReconnectDelay, Random.Shared);
    }

    /// <summary>The session serving now, if any.</summary>
    public TunnelSession? CurrentSession => Volatile.Read(ref _current);

    /// <summary>Raised each time a tunnel session opens.</summary>
    public event Action<TunnelSession>? Connected;

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var session = await TryConnectAsync(stoppingToken).ConfigureAwait(false);
            if (session is not null)
            {
                var since = _time.GetTimestamp();
                await ServeAsync(session, stoppingToken).ConfigureAwait(false);
                if (_time.GetElapsedTime(since) >= _options.StableConnectionTime)
                {
                    _backoff.Reset();
                }
            }

            if (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            var delay = _backoff.NextDelay();
            AgentLog.Reconnecting(_logger, delay);
            try
            {
                await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task<TunnelSession?> TryConnectAsync(CancellationToken stoppingToken)
    {
        AgentLog.Connecting(_logger, _connector.EndpointUri, _fingerprint, _backoff.Failures + 1);
        using var timeout = new CancellationTokenSource(_options.ConnectTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
        WebSocket? webSocket = null;
        try
        {
            webSocket = await _connector.ConnectAsync(_token, linked.Token).ConfigureAwait(false);
            var options = new TunnelSessionOptions
            {
                Limits = new SessionLimits
                {
                    InitialStreamWindow = _options.StreamWindow,
                    InitialSessionWindow = _options.SessionWindow,
                    MaxConcurrentStreams = _options.MaxConcurrentRequests,
                    MaxHeaderBytes = _options.MaxHeaderBytes,
                },
                HandshakeTimeout = _options.ConnectTimeout,
                KeepAliveInterval = _options.KeepAliveInterval,
                KeepAliveTimeout = _options.KeepAliveTimeout,
                TimeProvider = _time,
            };
            var session = await TunnelSession.StartAsync(new WebSocketTransport(webSocket), options, SessionRole.Agent, _dispatcher.HandleAsync, linked.Token).ConfigureAwait(false);
            AgentLog.Connected(_logger, _connector.EndpointUri, session.TransportName, session.SessionId, _options.Target);
            return session;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            webSocket?.Abort();
            return null;
        }
        catch (Exception ex) when (ex is WebSocketException or HttpRequestException or GatewayRefusedException or TunnelProtocolException
                                       or TimeoutException or OperationCanceledException or IOException or System.Security.Authentication.AuthenticationException)
        {
            webSocket?.Abort();
            AgentLog.ConnectFailed(_logger, _connector.EndpointUri, Describe(ex, timeout.IsCancellationRequested));
            return null;
        }
    }

    private async Task ServeAsync(TunnelSession session, CancellationToken stoppingToken)
    {
        Volatile.Write(ref _current, session);
        Connected?.Invoke(session);
        try
        {
            await session.Completion.WaitAsync(stoppingToken).ConfigureAwait(false);
            AgentLog.Disconnected(_logger, _connector.EndpointUri, session.Failure?.Message ?? "the gateway closed the session");
        }
        catch (OperationCanceledException)
        {
            AgentLog.Stopping(_logger, session.ActiveStreams, _options.ShutdownGracePeriod);
            await session.CloseAsync(_options.ShutdownGracePeriod, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _current, null);
        }
    }

    private string Describe(Exception ex, bool timedOut)
    {
        if (timedOut)
        {
            return $"no tunnel within {_options.ConnectTimeout.TotalSeconds:0.#} s";
        }

        var message = ex.Message;
        for (var inner = ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            message += " → " + inner.Message;
        }

        return message;
    }

    internal static string Fingerprint(string token)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token));
        return Convert.ToHexStringLower(hash.AsSpan(0, 4));
    }

    public void Dispose()
    {
        _connector.Dispose();
        _dispatcher.Dispose();
    }
}
