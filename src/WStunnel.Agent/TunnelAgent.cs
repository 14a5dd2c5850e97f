using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using WStunnel.Agent.Configuration;
using WStunnel.Agent.Connection;
using WStunnel.Agent.Diagnostics;
using WStunnel.Agent.Dispatch;
using WStunnel.Agent.Status;
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
    private readonly AgentCredentials _credentials;
    private readonly ReconnectBackoff _backoff;
    private TunnelSession? _current;
    private TunnelSession? _detached;
    private string? _connectingToken;
    private string? _servedToken;
    private string? _closingReason;
    private TimeSpan? _retryAfter; // what the gateway's last refusal asked the agent to wait
    private AgentState _state;
    private long _opened;

    private readonly AgentMetrics? _metrics;

    // jitter: the backoff's source of randomness; tests give a fixed one, so they know when the agent dials again.
    public TunnelAgent(WStunnelAgentOptions options, ILogger logger, TimeProvider? time = null, AgentMetrics? metrics = null, Random? jitter = null)
    {
        _metrics = metrics;
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _credentials = new AgentCredentials(options, logger);
        _connector = new GatewayConnector(options, logger);
        _dispatcher = new TargetDispatcher(options, logger, metrics);
        _backoff = new ReconnectBackoff(options.ReconnectDelay, options.MaxReconnectDelay, jitter ?? Random.Shared);
        _state = AgentState.Starting(_time.GetUtcNow());
    }

    /// <summary>Connected or not, over what, since when, and the last failure.</summary>
    public AgentState State => Volatile.Read(ref _state);

    /// <summary>Raised after <see cref="State"/> changes.</summary>
    public event Action<AgentState>? StateChanged;

    private void SetState(Func<AgentState, AgentState> change)
    {
        var state = change(Volatile.Read(ref _state));
        Volatile.Write(ref _state, state);
        _metrics?.SetConnected(state.Connected);
        StateChanged?.Invoke(state);
    }

    private void Opened(TunnelSession session)
    {
        var reconnects = Interlocked.Increment(ref _opened) - 1;
        if (reconnects > 0)
        {
            _metrics?.Reconnected();
        }

        SetState(s => new AgentState(true, session.TransportName, _time.GetUtcNow(), s.LastError, reconnects));
    }

    private void Failed(string reason) => SetState(s => s with { Connected = false, Since = s.Connected ? _time.GetUtcNow() : s.Since, LastError = reason });

    /// <summary>The session serving now, if any.</summary>
    public TunnelSession? CurrentSession => Volatile.Read(ref _current);

    /// <summary>Raised each time a tunnel session opens.</summary>
    public event Action<TunnelSession>? Connected;

    /// <summary>
    /// Reads the token and secret files again now (SIGHUP with <c>wstunnel agent</c>). When they changed,
    /// the tunnel closes — requests in flight finish, the gateway holds new ones — and the agent connects
    /// again announcing them; otherwise nothing changes.
    /// </summary>
    public void ReloadCredentials()
    {
        if (_credentials.Refresh() == CredentialChange.None)
        {
            AgentLog.CredentialsUnchanged(_logger, _credentials.Current.Fingerprint);
            return;
        }

        if (Volatile.Read(ref _current) is { } session)
        {
            AgentLog.ReconnectingForCredentials(_logger, _credentials.Current.Fingerprint, _options.ShutdownGracePeriod);
            Volatile.Write(ref _closingReason, "closed by the agent to announce its new token or secret");
            _ = session.CloseAsync(_options.ShutdownGracePeriod, CancellationToken.None);
        }
    }

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        try
        {
            await ConnectAndServeAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            // Stopping while a session waits to resume: its requests cannot finish any more.
            _detached?.Abort(new OperationCanceledException("the agent is stopping"));
        }
    }

    private async Task ConnectAndServeAsync(CancellationToken stoppingToken)
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
                    if (_detached is not null && !stoppingToken.IsCancellationRequested)
                    {
                        // A stable connection blinked and requests wait in the session: dial again at once.
                        // A connection that keeps breaking soon after it opens goes through the backoff.
                        continue;
                    }
                }
            }

            if (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            var delay = _backoff.NextDelay(_retryAfter);
            var waiting = Task.Delay(delay, _time, stoppingToken); // its timer runs before the line says so
            if (_retryAfter is { } asked)
            {
                AgentLog.ReconnectingAsAsked(_logger, delay.TotalSeconds, asked.TotalSeconds);
            }
            else
            {
                AgentLog.Reconnecting(_logger, delay.TotalSeconds);
            }

            try
            {
                await waiting.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task<TunnelSession?> TryConnectAsync(CancellationToken stoppingToken)
    {
        _credentials.Refresh();
        var credentials = _credentials.Current;
        if (_detached is { } detached && _servedToken != credentials.Token)
        {
            // Its requests belong to the tunnel of the old token, which this agent no longer serves.
            detached.Abort(new OperationCanceledException("the agent's token changed"));
            _detached = null;
        }

        AgentLog.Connecting(_logger, _options.Transport == AgentTransport.LongPoll ? _connector.LongPollUri : _connector.EndpointUri, credentials.Fingerprint, _backoff.Failures + 1);
        _retryAfter = null;
        if (_options.Transport != AgentTransport.LongPoll)
        {
            var handshake = _options.Transport == AgentTransport.Auto ? _options.WebSocketHandshakeTimeout : _options.ConnectTimeout;
            var (session, failure) = await TryStartAsync(ConnectWebSocketAsync, handshake, stoppingToken).ConfigureAwait(false);
            if (session is not null || failure is null || failure.AlikeOverLongPoll || _options.Transport == AgentTransport.WebSocket)
            {
                if (failure is not null)
                {
                    ConnectFailed(_connector.EndpointUri, failure);
                }

                return session;
            }

            AgentLog.FallingBackToLongPoll(_logger, failure.Reason);
        }

        var (longPoll, longPollFailure) = await TryStartAsync(ConnectLongPollAsync, _options.ConnectTimeout, stoppingToken).ConfigureAwait(false);
        if (longPollFailure is not null)
        {
            ConnectFailed(_connector.LongPollUri, longPollFailure);
        }

        return longPoll;
    }

    private void ConnectFailed(Uri server, ConnectFailure failure)
    {
        AgentLog.ConnectFailed(_logger, server, failure.Reason);
        _metrics?.ConnectFailed(failure.Kind);
        Failed(failure.Reason);
        _retryAfter = failure.RetryAfter;
    }

    /// <summary>
    /// Why no tunnel opened, in words and as the metric's reason; whether the other transport would fail
    /// alike (so there is no falling back to it); and how long the gateway asked the agent to wait, if it did.
    /// </summary>
    private sealed record ConnectFailure(string Reason, string Kind, bool AlikeOverLongPoll, TimeSpan? RetryAfter);

    /// <summary>The URL the session's transport reached: wss:// for a WebSocket, https:// for long-poll.</summary>
    private Uri EndpointOf(TunnelSession session) => session.TransportName == "longpoll" ? _connector.LongPollUri : _connector.EndpointUri;

    private async Task<ITunnelTransport> ConnectWebSocketAsync(CancellationToken cancellationToken)
    {
        var credentials = _credentials.Current;
        _connectingToken = credentials.Token;
        return new WebSocketTransport(await _connector.ConnectAsync(credentials.Token, credentials.Secret, ResumingSessionId, _time, cancellationToken).ConfigureAwait(false));
    }

    private Guid? ResumingSessionId => _detached is { IsDetached: true } detached ? detached.SessionId : null;

    private async Task<ITunnelTransport> ConnectLongPollAsync(CancellationToken cancellationToken)
    {
        var credentials = _credentials.Current;
        _connectingToken = credentials.Token;
        return await _connector.ConnectLongPollAsync(credentials.Token, credentials.Secret, ResumingSessionId, _time, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a transport and runs the tunnel handshake on it; returns the session, or why there is none
    /// (no failure either when the agent is stopping).
    /// </summary>
    private async Task<(TunnelSession? Session, ConnectFailure? Failure)> TryStartAsync(
        Func<CancellationToken, Task<ITunnelTransport>> connect, TimeSpan timeout, CancellationToken stoppingToken)
    {
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, deadline.Token);
        ITunnelTransport? transport = null;
        try
        {
            transport = await connect(linked.Token).ConfigureAwait(false);
            var options = new TunnelSessionOptions
            {
                Limits = new SessionLimits
                {
                    InitialStreamWindow = _options.StreamWindow,
                    InitialSessionWindow = _options.SessionWindow,
                    MaxConcurrentStreams = _options.MaxConcurrentRequests,
                    MaxHeaderBytes = _options.MaxHeaderBytes,
                },
                HandshakeTimeout = timeout,
                KeepAliveInterval = _options.KeepAliveInterval,
                KeepAliveTimeout = _options.KeepAliveTimeout,
                ResumeWindow = _options.ResumeWindow,
                MaxReplayBytes = _options.MaxReplayBytes,
                TimeProvider = _time,
                Features = SessionFeatures.Upgrades | SessionFeatures.ExpectContinue,
                OnStreamRejected = (id, reason) => AgentLog.RequestRefused(_logger, $"stream {id}: {reason}"),
            };
            var resume = _detached is { IsDetached: true } detached ? detached : null;
            var session = await TunnelSession.StartAsync(transport, options, SessionRole.Agent, _dispatcher.HandleAsync, linked.Token, resume: resume).ConfigureAwait(false);
            if (ReferenceEquals(session, resume))
            {
                AgentLog.Resumed(_logger, EndpointOf(session), session.TransportName, session.SessionId);
            }
            else
            {
                AgentLog.Connected(_logger, EndpointOf(session), session.TransportName, session.SessionId, _options.Target);
            }

            _detached = null;
            _servedToken = _connectingToken;
            _closingReason = null;
            return (session, null);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            transport?.Abort();
            return (null, null);
        }
        catch (Exception ex) when (ex is WebSocketException or HttpRequestException or GatewayRefusedException or TunnelProtocolException
                                       or TimeoutException or OperationCanceledException or IOException or System.Security.Authentication.AuthenticationException)
        {
            transport?.Abort();
            var refusal = Find<GatewayRefusedException>(ex);
            var kind = KindOf(ex, refusal);
            return (null, new ConnectFailure(
                Describe(ex, deadline.IsCancellationRequested, timeout),
                deadline.IsCancellationRequested ? "timeout" : kind,
                FailsAlikeOverLongPoll(kind, refusal),
                refusal?.AsksToWait == true ? refusal.RetryAfter : null));
        }
        catch (Exception ex)
        {
            // Whatever failed, the agent tries again: it never stops for something the network did.
            transport?.Abort();
            return (null, new ConnectFailure($"{ex.GetType().Name}: {Describe(ex, deadline.IsCancellationRequested, timeout)}", "other", false, null));
        }
    }

    private async Task ServeAsync(TunnelSession session, CancellationToken stoppingToken)
    {
        try
        {
            while (true)
            {
                Volatile.Write(ref _current, session);
                Opened(session);
                Connected?.Invoke(session);
                var upgrade = await WaitForEndOrUpgradeAsync(session, stoppingToken).ConfigureAwait(false);
                if (upgrade is null)
                {
                    if (session.IsDetached)
                    {
                        // Requests in flight wait in the session while the agent dials again and resumes it.
                        _detached = session;
                        AgentLog.ConnectionLost(_logger, EndpointOf(session), session.DetachReason?.Message ?? "unknown", _options.ResumeWindow);
                        Failed("connection lost: " + (session.DetachReason?.Message ?? "unknown"));
                    }
                    else
                    {
                        var reason = session.Failure?.Message;
                        if (reason is null && Interlocked.Exchange(ref _closingReason, null) is { } own)
                        {
                            AgentLog.ClosedToReconnect(_logger, EndpointOf(session), own); // planned: no warning
                            reason = own;
                        }
                        else
                        {
                            reason ??= "the gateway closed the session";
                            AgentLog.Disconnected(_logger, EndpointOf(session), reason);
                        }

                        Failed(reason);
                    }

                    return;
                }

                // Requests in flight finish on the long-poll session while new ones arrive on the WebSocket.
                AgentLog.UpgradedToWebSocket(_logger, _connector.EndpointUri);
                _ = session.CloseAsync(_options.ShutdownGracePeriod, CancellationToken.None);
                session = upgrade;
            }
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

    /// <summary>
    /// Waits for the session to end. In auto mode on long-poll, tries a WebSocket every retry
    /// interval and returns the new session when one opens.
    /// </summary>
    private async Task<TunnelSession?> WaitForEndOrUpgradeAsync(TunnelSession session, CancellationToken stoppingToken)
    {
        var attachment = session.AttachmentEnded;
        if (_options.Transport != AgentTransport.Auto || session.TransportName == "websocket")
        {
            await attachment.WaitAsync(stoppingToken).ConfigureAwait(false);
            return null;
        }

        while (true)
        {
            using (var waiting = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
            {
                var retry = Task.Delay(_options.WebSocketRetryInterval, _time, waiting.Token);
                var ended = await Task.WhenAny(attachment, retry).ConfigureAwait(false) == attachment;
                await waiting.CancelAsync().ConfigureAwait(false); // no timer left behind
                if (ended)
                {
                    return null;
                }
            }

            stoppingToken.ThrowIfCancellationRequested();
            var (upgrade, failure) = await TryStartAsync(ConnectWebSocketAsync, _options.WebSocketHandshakeTimeout, stoppingToken).ConfigureAwait(false);
            if (upgrade is not null)
            {
                return upgrade;
            }

            AgentLog.StillOnLongPoll(_logger, failure?.Reason ?? "stopping");
        }
    }

    /// <summary>
    /// Whether long-poll, which reaches the same host through the same proxy and TLS, would fail the same
    /// way: TLS with the gateway failed (most often: its certificate was rejected), the name did not
    /// resolve or the connection was refused or lost before it opened, the answer redirects, the gateway
    /// asked the agent to wait, or another agent serves the tunnel. A refused or stalled upgrade is what
    /// long-poll is for.
    /// </summary>
    private static bool FailsAlikeOverLongPoll(string kind, GatewayRefusedException? refusal) =>
        kind is "tls" or "unreachable" or "redirected" or "asked_to_wait" || refusal is { TunnelTaken: true };

    /// <summary>What failed, as the metric names it (few values, never a host, a status or a message).</summary>
    private static string KindOf(Exception ex, GatewayRefusedException? refusal) =>
        Find<System.Security.Authentication.AuthenticationException>(ex) is not null
            || Find<HttpRequestException>(ex) is { HttpRequestError: HttpRequestError.SecureConnectionError } ? "tls"
        : Find<HttpRequestException>(ex) is { HttpRequestError: HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError } ? "unreachable"
        : refusal switch
        {
            { AsksToWait: true } => "asked_to_wait",
            { Redirects: true } => "redirected",
            not null => "refused",
            null => "other",
        };

    private static T? Find<T>(Exception ex)
        where T : Exception
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }

        return null;
    }

    private static string Describe(Exception ex, bool timedOut, TimeSpan timeout)
    {
        if (timedOut)
        {
            return $"no tunnel within {timeout.TotalSeconds:0.#} s";
        }

        var message = ex.Message;
        if (ex is GatewayRefusedException)
        {
            return message; // says it all: the WebSocket's own exception beneath only repeats the status
        }

        for (var inner = ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            message += " → " + inner.Message;
        }

        return message;
    }

    public void Dispose()
    {
        _connector.Dispose();
        _dispatcher.Dispose();
    }
}
