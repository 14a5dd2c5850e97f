using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Http;
using WStunnel.Protocol.Session;
using WStunnel.Server.Configuration;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Forwarding;

/// <summary>
/// Sends one request through a tunnel: picks the agent session, opens a stream, streams the request
/// body in the background, and returns as soon as the response head arrives, with a streaming body.
/// </summary>
internal sealed class TunnelForwarder(
    TunnelRegistry registry,
    GatewayMetrics metrics,
    IOptions<WStunnelOptions> options,
    TimeProvider time,
    ILogger<TunnelForwarder> logger,
    LiveSettings? settings = null)
{
    private readonly LiveSettings _settings = settings ?? new LiveSettings(options);
    private readonly string? _targetHeader = options.Value.TargetHeader;

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        if (request.Method == HttpMethod.Trace)
        {
            // A tunnel into a private network must not reflect requests; agents refuse TRACE too.
            // (A plain CONNECT never gets here: YARP refuses to forward it, with 502.)
            var refused = PlainText(request, HttpStatusCode.MethodNotAllowed, $"{request.Method} requests are not forwarded through a tunnel.\n");
            foreach (var method in (string[])["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
            {
                refused.Content.Headers.Allow.Add(method);
            }

            metrics.RequestCompleted("refused", started);
            return refused;
        }

        if (request.Method == HttpMethod.Connect)
        {
            // An HTTP/2 WebSocket (extended CONNECT) arrives so only when a named tunnel's cluster forces
            // HTTP/2; by default YARP sends WebSockets as the HTTP/1.1 upgrades a tunnel carries.
            metrics.RequestCompleted("refused", started);
            throw new HttpRequestException(
                "A tunnel carries WebSockets as HTTP/1.1 upgrades: leave the cluster's HttpRequest:Version unset, or set it to 1.1.", null, HttpStatusCode.BadGateway);
        }

        TunnelEntry tunnel;
        try
        {
            tunnel = Resolve(request);
        }
        catch (TunnelUnavailableException)
        {
            metrics.RequestCompleted("unavailable", started);
            throw;
        }

        tunnel.Traffic.RequestStarted(time.GetUtcNow());
        using var activity = GatewayActivitySource.Instance.StartActivity("WStunnel tunnel", ActivityKind.Client);
        activity?.SetTag("wstunnel.tunnel", tunnel.DisplayName);
        var outcome = "failed";
        try
        {
            var response = await SendWithRetriesAsync(request, tunnel, cancellationToken).ConfigureAwait(false);
            outcome = response.Content is TunnelResponseContent ? "forwarded" : OutcomeOf(response.StatusCode);
            activity?.SetTag("http.response.status_code", (int)response.StatusCode);
            return response;
        }
        catch (TunnelUnavailableException)
        {
            outcome = "unavailable";
            throw;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            outcome = "canceled";
            throw;
        }
        finally
        {
            if (outcome is not ("forwarded" or "canceled"))
            {
                tunnel.Traffic.RequestFailed();
                activity?.SetStatus(ActivityStatusCode.Error, outcome);
            }

            metrics.RequestCompleted(outcome, started);
        }
    }

    private static string OutcomeOf(HttpStatusCode status) => status switch
    {
        HttpStatusCode.BadRequest => "bad_request",
        HttpStatusCode.RequestHeaderFieldsTooLarge => "headers_too_large",
        HttpStatusCode.ServiceUnavailable => "queue_full",
        HttpStatusCode.GatewayTimeout => "timeout",
        _ => "answered_by_gateway",
    };

    private async Task<HttpResponseMessage> SendWithRetriesAsync(HttpRequestMessage request, TunnelEntry tunnel, CancellationToken cancellationToken)
    {
        var requestTimeout = _settings.Current.RequestTimeout;
        var deadline = requestTimeout is { } limit ? new RequestDeadline(limit, time, cancellationToken) : null;
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var response = await SendOnceAsync(request, tunnel, deadline, deadline?.Token ?? cancellationToken).ConfigureAwait(false);
                    if (response.Content is not TunnelResponseContent)
                    {
                        deadline?.Dispose(); // answered by the gateway itself: no body for the deadline to watch
                    }

                    return response;
                }
                catch (HttpRequestException ex) when (attempt < 3 && IsSafeToSendAgain(ex, request))
                {
                    // The agent went away before it saw the request (it said so): no backend saw it either. Send it again.
                }
            }
        }
        catch (OperationCanceledException) when (deadline is { Expired: true } && !cancellationToken.IsCancellationRequested)
        {
            deadline.Dispose();
            ServerLog.RequestTimedOut(logger, tunnel.DisplayName, requestTimeout!.Value);
            return PlainText(request, HttpStatusCode.GatewayTimeout, "The tunnel's agent did not answer within the gateway's request timeout.\n");
        }
        catch
        {
            deadline?.Dispose();
            throw;
        }
    }

    // The deadline, if any, passes to the response: its body ends when the deadline passes.
    private async Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage request, TunnelEntry tunnel, RequestDeadline? deadline, CancellationToken cancellationToken)
    {
        RequestHead head;
        try
        {
            head = TunnelRequestHeadBuilder.Build(request, _targetHeader);
        }
        catch (FormatException ex)
        {
            return PlainText(request, HttpStatusCode.BadRequest, ex.Message + "\n");
        }

        // A WebSocket (or other HTTP/1.1 upgrade) comes from YARP as a GET without content.
        var upgrade = request.Content is null ? HttpUpgrade.Requested(request.Headers) : null;

        var session = tunnel.Session;
        TunnelWaitQueue.Place? place = null;
        if (session is not { IsAvailable: true } || tunnel.Queue.HasLine)
        {
            if (session is not { IsAvailable: true } && registry.Stopping.IsCancellationRequested)
            {
                return Stopping(request);
            }

            if (session is not { IsAvailable: true } && !registry.MayQueue(tunnel))
            {
                ServerLog.TunnelOffline(logger, tunnel.DisplayName);
                throw new TunnelUnavailableException(tunnel.DisplayName);
            }

            if (!registry.TryReserveQueueSlot())
            {
                return QueueFull(request, tunnel);
            }

            var queue = _settings.Current.Queue;
            place = tunnel.Queue.TryEnter(queue.MaxPerTunnel);
            if (place is null)
            {
                registry.ReleaseQueueSlot();
                return QueueFull(request, tunnel);
            }

            using var timeout = new CancellationTokenSource(queue.Timeout, time);
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, registry.Stopping);
            try
            {
                session = await place.WaitAsync(() => tunnel.Session, waiting.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                place.Dispose();
                registry.ReleaseQueueSlot();
                if (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }

                if (registry.Stopping.IsCancellationRequested)
                {
                    return Stopping(request);
                }

                if (!timeout.IsCancellationRequested)
                {
                    throw;
                }

                ServerLog.QueueTimedOut(logger, tunnel.DisplayName, queue.Timeout);
                return PlainText(request, HttpStatusCode.GatewayTimeout, "The tunnel's agent did not come back in time.\n");
            }

            if (session is null)
            {
                place.Dispose();
                registry.ReleaseQueueSlot();
                ServerLog.TunnelRemovedWhileWaiting(logger, tunnel.DisplayName);
                throw new TunnelUnavailableException(tunnel.DisplayName);
            }
        }

        // An agent that does not announce upgrades gets the plain request, as any server may ignore
        // Upgrade (RFC 9110 §7.8). One that does keeps the request half open for the upgraded bytes.
        var upgrading = upgrade is not null && session.PeerFeatures.HasFlag(SessionFeatures.Upgrades);
        if (upgrading)
        {
            head.Headers.Add(new(HttpUpgrade.HeaderName, upgrade!));
        }

        TunnelStream stream;
        try
        {
            stream = await session.OpenStreamAsync(head, endStream: request.Content is null && !upgrading, cancellationToken).ConfigureAwait(false);
        }
        catch (HeadersTooLargeException ex)
        {
            ServerLog.HeadersTooLarge(logger, tunnel.DisplayName, ex.Message);
            return PlainText(request, HttpStatusCode.RequestHeaderFieldsTooLarge, "Request headers are too large for the tunnel.\n");
        }
        catch (TunnelStreamException ex)
        {
            ServerLog.TunnelOffline(logger, tunnel.DisplayName);
            throw new TunnelUnavailableException(tunnel.DisplayName, ex);
        }
        finally
        {
            // The stream is open (or failed): the next request in line may go.
            if (place is not null)
            {
                place.Dispose();
                registry.ReleaseQueueSlot();
            }
        }

        deadline?.Watch(stream);
        if (request.Content is { } content)
        {
            _ = SendBodyAsync(content, new TunnelWriteStream(stream, tunnel, metrics), stream, cancellationToken);
        }

        ResponseHead responseHead;
        try
        {
            responseHead = await stream.ResponseHead.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            stream.Reset();
            stream.CloseRead();
            throw;
        }
        catch (TunnelStreamException) when (deadline is { Expired: true })
        {
            // The deadline reset the stream before the head came: that is a timeout, not a tunnel failure.
            stream.CloseRead();
            throw new OperationCanceledException(deadline.Token);
        }
        catch (TunnelStreamException ex)
        {
            stream.CloseRead();
            throw new HttpRequestException($"The tunnel '{tunnel.DisplayName}' failed before the response arrived: {ex.Message}", ex, HttpStatusCode.BadGateway);
        }

        if (responseHead.StatusCode == StatusCodes.Status101SwitchingProtocols)
        {
            if (!upgrading)
            {
                stream.Reset(ErrorCode.ProtocolError);
                stream.CloseRead();
                throw new HttpRequestException($"The tunnel '{tunnel.DisplayName}' switched protocols for a request that asked for no upgrade.", null, HttpStatusCode.BadGateway);
            }

            // As YARP does, the request timeout ends with the upgrade: the connection lives as long as both ends talk.
            deadline?.Dispose();
            return TunnelResponseBuilder.BuildUpgraded(request, responseHead, upgrade!, stream, tunnel, metrics);
        }

        if (responseHead.StatusCode < StatusCodes.Status200OK)
        {
            // HttpClient never gives an informational answer as the response, so YARP (and Kestrel,
            // which would write it as the final status line) must not get one from the tunnel either.
            stream.Reset(ErrorCode.ProtocolError);
            stream.CloseRead();
            throw new HttpRequestException($"The tunnel '{tunnel.DisplayName}' answered with the informational status {responseHead.StatusCode} as its response.", null, HttpStatusCode.BadGateway);
        }

        if (upgrading)
        {
            stream.TryComplete(); // the request half was held open for upgraded bytes that will not come
        }

        return TunnelResponseBuilder.Build(request, responseHead, stream, tunnel, metrics, deadline);
    }

    /// <summary>
    /// Refused streams never reached a backend. The request may go again if its body was never
    /// touched: it has none, or the stream was refused before it opened (the body is read only after).
    /// </summary>
    private static bool IsSafeToSendAgain(HttpRequestException error, HttpRequestMessage request) =>
        error.InnerException is TunnelStreamException { Code: ErrorCode.RefusedStream }
        && (request.Content is null || error is TunnelUnavailableException);

    private TunnelEntry Resolve(HttpRequestMessage request)
    {
        if (request.Options.TryGetValue(TunnelRequestOptions.Tunnel, out var tunnel))
        {
            return tunnel;
        }

        var name = request.RequestUri!.Host;
        return registry.FindByName(name) ?? throw new TunnelUnavailableException(name);
    }

    private static async Task SendBodyAsync(HttpContent content, TunnelWriteStream target, TunnelStream stream, CancellationToken cancellationToken)
    {
        try
        {
            // Expect: 100-continue: the body waits until the agent's target asks for it, so the client
            // (which Kestrel tells to go on at the first read) sends nothing if the answer comes first.
            if (!await stream.BodyWanted.WaitAsync(cancellationToken).ConfigureAwait(false))
            {
                // Answered without it. The request half ends abandoned unless the agent ended it: an empty
                // end would pass a body never sent off as complete.
                if (!stream.StoppedByPeer)
                {
                    stream.Reset(ErrorCode.Cancel);
                }

                return;
            }

            await content.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
            stream.Complete();
        }
        catch (Exception) when (stream.StoppedByPeer)
        {
            // The agent answered without the rest of the body and asked for no more: the answer stands,
            // and YARP learns from its own copy that the body ended early.
        }
        catch (Exception)
        {
            // The client's body failed or the stream is gone: the agent must not see a truncated body as complete.
            stream.Reset(ErrorCode.Cancel);
        }
    }

    private HttpResponseMessage QueueFull(HttpRequestMessage request, TunnelEntry tunnel)
    {
        ServerLog.QueueFull(logger, tunnel.DisplayName);
        var response = PlainText(request, HttpStatusCode.ServiceUnavailable, "Too many requests are waiting for this tunnel's agent.\n");
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(5));
        return response;
    }

    /// <summary>A stopping gateway admits no agent, so a request without a live one has nothing to wait for.</summary>
    private static HttpResponseMessage Stopping(HttpRequestMessage request) =>
        PlainText(request, HttpStatusCode.ServiceUnavailable, "The gateway is shutting down.\n");

    private static HttpResponseMessage PlainText(HttpRequestMessage request, HttpStatusCode status, string message) => new(status)
    {
        RequestMessage = request,
        Content = new StringContent(message, System.Text.Encoding.UTF8, "text/plain"),
    };
}
