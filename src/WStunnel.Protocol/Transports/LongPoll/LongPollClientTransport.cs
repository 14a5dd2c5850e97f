using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;

namespace WStunnel.Protocol.Transports.LongPoll;

/// <summary>
/// The agent's end of a long-poll connection: one poll always outstanding for the gateway's bytes,
/// one POST per batch for its own. Transient failures (a dropped connection, a timed-out poll, a
/// 5xx from a proxy) are retried with the same offsets, so nothing is lost or applied twice; only
/// a failure that lasts longer than the failure timeout, or the gateway forgetting the connection,
/// ends the transport.
/// </summary>
internal sealed class LongPollClientTransport : ITunnelTransport
{
    private readonly HttpMessageInvoker _client;
    private readonly Uri _endpoint;
    private readonly string _tokenHeader;
    private readonly string _token;
    private readonly string _connectionId;
    private readonly TimeSpan _pollTimeout;
    private readonly TimeSpan _failureTimeout;
    private readonly TimeProvider _time;
    private readonly Pipe _inbound = new(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
    private readonly CancellationTokenSource _stopped = new();
    private readonly Task _pollLoop;
    private long _receivedOffset;
    private long _sentOffset;
    private int _closed;
    private bool _ownsClient;

    private LongPollClientTransport(HttpMessageInvoker client, Uri endpoint, string tokenHeader, string token, string connectionId, TimeSpan pollTimeout, TimeSpan failureTimeout, TimeProvider time)
    {
        _client = client;
        _endpoint = endpoint;
        _tokenHeader = tokenHeader;
        _token = token;
        _connectionId = connectionId;
        _pollTimeout = pollTimeout;
        _failureTimeout = failureTimeout;
        _time = time;
        _pollLoop = PollLoopAsync();
    }

    public string Name => "longpoll";

    /// <summary>
    /// Opens a connection at <paramref name="endpoint"/> (the tunnel endpoint, e.g. <c>https://gw/_tunnel</c>)
    /// with <paramref name="client"/>, which the transport disposes with itself (also when connecting
    /// fails) when <paramref name="ownsClient"/> is set.
    /// </summary>
    public static async Task<LongPollClientTransport> ConnectAsync(
        HttpMessageInvoker client, Uri endpoint, string tokenHeader, string token, TimeSpan failureTimeout, TimeProvider time, CancellationToken cancellationToken,
        bool ownsClient = false, IEnumerable<KeyValuePair<string, string>>? connectHeaders = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(endpoint);
        try
        {
            var transport = await ConnectCoreAsync(client, endpoint, tokenHeader, token, failureTimeout, time, connectHeaders ?? [], cancellationToken).ConfigureAwait(false);
            transport._ownsClient = ownsClient;
            return transport;
        }
        catch when (ownsClient)
        {
            client.Dispose();
            throw;
        }
    }

    private static async Task<LongPollClientTransport> ConnectCoreAsync(
        HttpMessageInvoker client, Uri endpoint, string tokenHeader, string token, TimeSpan failureTimeout, TimeProvider time,
        IEnumerable<KeyValuePair<string, string>> connectHeaders, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Combine(endpoint, LongPollProtocol.ConnectPath)) { Content = new ByteArrayContent([]) };
        request.Headers.TryAddWithoutValidation(tokenHeader, token);
        foreach (var (name, value) in connectHeaders)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new GatewayRefusedException(response.StatusCode, null,
                retryAfter: GatewayRefusedException.RetryAfterOf(response.Headers.RetryAfter, time.GetUtcNow()),
                reason: await RefusalText.ReadAsync(response.Content, cancellationToken).ConfigureAwait(false),
                location: response.Headers.Location);
        }

        if (!response.Headers.TryGetValues(LongPollProtocol.ConnectionHeader, out var ids)
            || !response.Headers.TryGetValues(LongPollProtocol.PollTimeoutHeader, out var timeouts)
            || !int.TryParse(timeouts.First(), NumberStyles.None, CultureInfo.InvariantCulture, out var pollMilliseconds))
        {
            throw new GatewayRefusedException(response.StatusCode, null, "the server accepted the long-poll connection without its headers: is it a WStunnel gateway?");
        }

        return new LongPollClientTransport(client, endpoint, tokenHeader, token, ids.First(), TimeSpan.FromMilliseconds(pollMilliseconds), failureTimeout, time);
    }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken)
    {
        var firstAttempt = _time.GetTimestamp();
        for (var attempt = 0; ; attempt++)
        {
            using var request = NewRequest(LongPollProtocol.SendPath, _sentOffset);
            request.Content = new ReadOnlyMemoryContent(batch);
            request.Content.Headers.TryAddWithoutValidation("Content-Type", LongPollProtocol.ContentType);
            try
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopped.Token);
                linked.CancelAfter(_failureTimeout);
                using var response = await _client.SendAsync(request, linked.Token).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    _sentOffset += batch.Length;
                    return;
                }

                if (IsFinal(response.StatusCode))
                {
                    throw Ended(response.StatusCode);
                }
            }
            catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested && !_stopped.IsCancellationRequested)
            {
                // Retried below with the same offset: the gateway skips what it already has.
            }

            if (_time.GetElapsedTime(firstAttempt) > _failureTimeout)
            {
                throw new IOException($"sending to the gateway failed for {_failureTimeout.TotalSeconds:0} s");
            }

            await Task.Delay(RetryDelay(attempt), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _inbound.Reader.ReadIntoAsync(buffer, cancellationToken);

    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        await _stopped.CancelAsync().ConfigureAwait(false);
        try
        {
            using var request = NewRequest(LongPollProtocol.ClosePath, _sentOffset);
            request.Content = new ByteArrayContent([]);
            using var response = await _client.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsTransient(ex))
        {
            // The gateway forgets an unused connection by itself.
        }

        _inbound.Writer.Complete();
    }

    public void Abort()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _stopped.Cancel();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Abort();
        await _pollLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopped.Dispose();
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }

    private async Task PollLoopAsync()
    {
        await Task.Yield();
        var lastSuccess = _time.GetTimestamp();
        Exception? failure = null;
        for (var attempt = 0; !_stopped.IsCancellationRequested;)
        {
            try
            {
                using var request = NewRequest(LongPollProtocol.PollPath, _receivedOffset);
                request.Content = new ByteArrayContent([]);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopped.Token);
                timeout.CancelAfter(_pollTimeout + TimeSpan.FromSeconds(15));
                using var response = await _client.SendAsync(request, timeout.Token).ConfigureAwait(false);
                if (IsFinal(response.StatusCode))
                {
                    failure = Ended(response.StatusCode);
                    break;
                }

                if (response.IsSuccessStatusCode)
                {
                    await ReadAnswerAsync(response, timeout.Token).ConfigureAwait(false);
                    lastSuccess = _time.GetTimestamp();
                    attempt = 0;
                    continue;
                }
            }
            catch (InvalidDataException ex)
            {
                failure = ex;
                break;
            }
            catch (Exception ex) when (IsTransient(ex) && !_stopped.IsCancellationRequested)
            {
                // A lost or cut poll: poll again from the same offset.
            }
            catch (Exception) when (_stopped.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                failure = ex;
                break;
            }

            if (_time.GetElapsedTime(lastSuccess) > _failureTimeout)
            {
                failure = new IOException($"no poll reached the gateway for {_failureTimeout.TotalSeconds:0} s");
                break;
            }

            try
            {
                await Task.Delay(RetryDelay(attempt++), _time, _stopped.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        if (Volatile.Read(ref _closed) == 0 || failure is not null)
        {
            _inbound.Writer.Complete(failure ?? new IOException("the long-poll connection was aborted"));
        }
    }

    private async Task ReadAnswerAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.Headers.TryGetValues(LongPollProtocol.OffsetHeader, out var values)
            || !long.TryParse(values.First(), NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
            || offset > _receivedOffset)
        {
            throw new InvalidDataException("the gateway's poll answer does not continue where this agent stands");
        }

        // Only bytes that arrived count as received: a cut answer is asked for again from there.
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await OffsetCopy.CopyNewBytesAsync(body, _receivedOffset - offset, _inbound.Writer, count => _receivedOffset += count, cancellationToken).ConfigureAwait(false);
    }

    private HttpRequestMessage NewRequest(string path, long offset)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Combine(_endpoint, path));
        request.Headers.TryAddWithoutValidation(_tokenHeader, _token);
        request.Headers.TryAddWithoutValidation(LongPollProtocol.ConnectionHeader, _connectionId);
        request.Headers.TryAddWithoutValidation(LongPollProtocol.OffsetHeader, offset.ToString(CultureInfo.InvariantCulture));
        return request;
    }

    private static Uri Combine(Uri endpoint, string path) => new(endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/') + path);

    /// <summary>The gateway no longer knows the connection, or refuses this agent: retrying cannot help.</summary>
    private static bool IsFinal(HttpStatusCode status) =>
        status is HttpStatusCode.NotFound or HttpStatusCode.Gone or HttpStatusCode.Conflict or HttpStatusCode.BadRequest
            or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden;

    private static IOException Ended(HttpStatusCode status) =>
        new($"the gateway ended the long-poll connection ({(int)status})");

    private static bool IsTransient(Exception ex) => ex is HttpRequestException or IOException or OperationCanceledException;

    private static TimeSpan RetryDelay(int attempt) => TimeSpan.FromMilliseconds(Math.Min(1000, 50 * (1 << Math.Min(attempt, 5))));
}
