using System.Buffers;
using System.Collections.Frozen;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using WStunnel.Agent.Diagnostics;
using WStunnel.Agent.Security;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Http;
using WStunnel.Protocol.Session;

namespace WStunnel.Agent.Dispatch;

/// <summary>
/// Replays each tunnel stream against the one configured target origin and streams the answer back.
/// It is not a proxy: origin-form paths only, no redirects, no cookies, no decompression.
/// </summary>
internal sealed class TargetDispatcher : IDisposable
{
    // Body pieces this large leave at once; smaller ones wait for the next piece or the end, unless the target pauses.
    private const int FlushThreshold = 16 * 1024;

    private readonly Uri _target;
    private readonly string _origin;
    private readonly string? _socketHost;
    private readonly FrozenDictionary<string, string> _allowedOrigins;
    private readonly TimeSpan _responseTimeout;
    private readonly Version _version;
    private readonly HttpVersionPolicy _versionPolicy;
    private readonly HttpMessageInvoker _client;
    private readonly ILogger _logger;

    private readonly AgentMetrics? _metrics;

    public TargetDispatcher(WStunnelAgentOptions options, ILogger logger, AgentMetrics? metrics = null)
    {
        _metrics = metrics;
        _target = options.Target;
        TargetOrigin[] targets = [TargetOrigin.From(options.Target), .. options.AllowedTargets.Select(TargetOrigin.From)];
        _origin = targets[0].RequestBase;
        _socketHost = targets[0].SocketPath is null ? null : "localhost"; // what curl --unix-socket sends, not the reserved name
        _allowedOrigins = targets.DistinctBy(static t => t.Key).ToFrozenDictionary(static t => t.Key, static t => t.RequestBase, StringComparer.Ordinal);
        var socket = targets[0].SocketPath;
        _responseTimeout = options.TargetResponseTimeout;
        _version = options.TargetHttp2 ? HttpVersion.Version20 : HttpVersion.Version11;

        // Cleartext HTTP/2 has no negotiation: it must be asked for exactly (prior knowledge).
        _versionPolicy = options.TargetHttp2 && options.Target.Scheme is "http" or TargetOrigin.UnixScheme
            ? HttpVersionPolicy.RequestVersionExact
            : HttpVersionPolicy.RequestVersionOrLower;
        _logger = logger;
        _client = new HttpMessageInvoker(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
            ActivityHeadersPropagator = null, // the gateway's trace context arrives in the request's own headers
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            SslOptions = TargetTls(options),
            ConnectCallback = socket is null ? null : (context, cancellationToken) => ConnectAsync(socket, context.DnsEndPoint, cancellationToken),
        });
    }

    /// <summary>A connection to a target: the main target's Unix domain socket, or as the handler connects by itself, over TCP.</summary>
    private static async ValueTask<Stream> ConnectAsync(string path, DnsEndPoint endpoint, CancellationToken cancellationToken)
    {
        var (socket, remote) = endpoint.Host == TargetOrigin.SocketHost
            ? (new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified), (EndPoint)new UnixDomainSocketEndPoint(path))
            : (new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }, endpoint);
        try
        {
            await socket.ConnectAsync(remote, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// How <c>https://</c> targets are verified: as any server, by the system's roots and
    /// <see cref="WStunnelAgentOptions.TargetCaCertificateFile"/>; not at all with <see cref="WStunnelAgentOptions.InsecureTarget"/>.
    /// </summary>
    private SslClientAuthenticationOptions TargetTls(WStunnelAgentOptions options)
    {
        if (options.InsecureTarget)
        {
#pragma warning disable CA5359 // The operator asked for it (InsecureTarget, the original's -insecure): a local server's self-signed certificate.
            return new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = static (_, _, _, _) => true };
#pragma warning restore CA5359
        }

        var validator = ServerCertificateValidator.FromFile(options.TargetCaCertificateFile, "TargetCaCertificateFile");
        return new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
            {
                if (validator.Validate(certificate, chain, errors, out var rejection))
                {
                    return true;
                }

                AgentLog.TargetCertificateRejected(_logger, (sender as HttpRequestMessage)?.RequestUri?.GetLeftPart(UriPartial.Authority) ?? _origin, rejection);
                return false;
            },
        };
    }

    /// <summary>Answers one stream; never throws, so no stream is left without an answer or a reset.</summary>
    public async Task HandleAsync(TunnelStream stream)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = "failed";
        try
        {
            outcome = await DispatchAsync(stream).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            AgentLog.TargetFailed(_logger, _target, stream.RequestHead!.Method, ex.Message);
            if (!stream.ResponseHeadSent)
            {
                Answer(stream, HttpStatusCode.BadGateway, ex is HeadersTooLargeException
                    ? "The target's response headers are too large for the tunnel.\n"
                    : "The tunnel agent could not forward this request.\n");
            }
            else
            {
                stream.Reset(ErrorCode.InternalError);
            }
        }
        finally
        {
            _metrics?.RequestCompleted(outcome, started);
        }
    }

    /// <summary>Serves one request; returns its outcome for the metrics.</summary>
    private async Task<string> DispatchAsync(TunnelStream stream)
    {
        var head = stream.RequestHead!;
        if (TargetRequestPolicy.Refusal(head) is { } refusal)
        {
            AgentLog.RequestRefused(_logger, $"stream {stream.Id}: {refusal}");
            stream.Reset(ErrorCode.ProtocolError);
            return "refused";
        }

        var origin = _origin;
        if (head.Origin.Length > 0 && !TryAllowedOrigin(head.Origin, out origin))
        {
            AgentLog.RequestRefused(_logger, $"stream {stream.Id}: origin {head.Origin} is not one of the agent's allowed targets");
            Answer(stream, HttpStatusCode.Forbidden, "The tunnel's agent does not serve the requested target.\n");
            return "refused";
        }

        var upgrade = HttpUpgrade.Of(head.Headers);
        if (upgrade is not null && (!HttpUpgrade.IsProtocol(upgrade) || !head.Method.Equals("GET", StringComparison.OrdinalIgnoreCase) || !stream.RequestHasBody))
        {
            AgentLog.RequestRefused(_logger, $"stream {stream.Id}: an upgrade must be a GET naming one protocol, with its request half open");
            stream.Reset(ErrorCode.ProtocolError);
            return "refused";
        }

        using var request = BuildRequest(stream, head, origin, upgrade);

        // One source for both ends of the wait: the stream's reset, and the target's time to answer.
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(stream.Aborted);
        waiting.CancelAfter(_responseTimeout);
        HttpResponseMessage response;
        try
        {
            response = await _client.SendAsync(request, waiting.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stream.Aborted.IsCancellationRequested)
        {
            return "canceled"; // the client went away; the gateway already reset the stream
        }
        catch (OperationCanceledException) when (waiting.IsCancellationRequested)
        {
            AgentLog.TargetFailed(_logger, _target, head.Method, $"no response within {_responseTimeout.TotalSeconds:0.#} s");
            Answer(stream, HttpStatusCode.GatewayTimeout, "The tunnel agent's target did not answer in time.\n");
            return "target_timeout";
        }
        catch (HttpRequestException ex)
        {
            AgentLog.TargetFailed(_logger, _target, head.Method, ex.Message);
            Answer(stream, HttpStatusCode.BadGateway, ex.InnerException is SocketException
                ? "The tunnel agent could not connect to its target.\n"
                : "The tunnel agent's request to its target failed.\n");
            return "target_failed";
        }

        using (response)
        {
            if (response.StatusCode == HttpStatusCode.SwitchingProtocols)
            {
                if (upgrade is null)
                {
                    AgentLog.TargetFailed(_logger, _target, head.Method, "it switched protocols for a request that asked for no upgrade");
                    Answer(stream, HttpStatusCode.BadGateway, "The tunnel agent's target switched protocols unasked.\n");
                    return "target_failed";
                }

                await RelayUpgradedAsync(stream, upgrade, response).ConfigureAwait(false);
                return "upgraded";
            }

            await RelayResponseAsync(stream, head, response).ConfigureAwait(false);
        }

        // The answer is complete; a request body the target did not read is of no more use: closing
        // the read side asks the gateway to stop sending it, behind the answer.
        stream.CloseRead();
        return "forwarded";
    }

    /// <summary>
    /// Where requests for the selected origin go, if the agent lists it: scheme, host and port must all
    /// match (<c>http://host</c> and <c>http://host:80</c> are the same origin; <c>https://host</c> is not),
    /// or the socket's path.
    /// </summary>
    private bool TryAllowedOrigin(string requested, out string origin)
    {
        origin = "";
        return TargetOrigin.KeyOf(requested) is { } key && _allowedOrigins.TryGetValue(key, out origin!);
    }

    private HttpRequestMessage BuildRequest(TunnelStream stream, RequestHead head, string origin, string? upgrade)
    {
        // Upgrades exist only in HTTP/1.1; the bytes after the head are the upgraded connection's, not a body.
        var request = new HttpRequestMessage(HttpMethod.Parse(head.Method), new Uri(origin + head.PathAndQuery))
        {
            Version = upgrade is null ? _version : HttpVersion.Version11,
            VersionPolicy = upgrade is null ? _versionPolicy : HttpVersionPolicy.RequestVersionExact,
        };

        if (stream.RequestHasBody && upgrade is null)
        {
            request.Content = new TunnelRequestContent(stream);
        }

        TunnelHeaders.CopyTo(head.Headers, request.Headers, request, static r => (r.Content ??= new ByteArrayContent([])).Headers);
        if (upgrade is not null)
        {
            HttpUpgrade.Apply(request.Headers, upgrade);
        }

        if (head.Authority.Length > 0)
        {
            request.Headers.Host = head.Authority;
        }
        else if (_socketHost is not null && origin == _origin)
        {
            request.Headers.Host = _socketHost;
        }

        return request;
    }

    private async Task RelayResponseAsync(TunnelStream stream, RequestHead head, HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        var bodyless = status is 204 or 304 || string.Equals(head.Method, "HEAD", StringComparison.OrdinalIgnoreCase);
        // The head waits for the body's first bytes when they are already here: a small answer then
        // crosses the tunnel as one batch (head, body, end), not three.
        stream.SendResponseHead(new ResponseHead { StatusCode = status, Headers = TunnelHeaders.Collect(response.Headers, response.Content.Headers) }, endStream: bodyless, flush: false);
        if (bodyless)
        {
            return;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            var opening = response.Content.ReadAsStreamAsync(stream.Aborted);
            if (!opening.IsCompleted)
            {
                stream.Flush();
            }

            await using var body = await opening.ConfigureAwait(false);
            while (true)
            {
                var reading = body.ReadAsync(buffer, stream.Aborted);
                if (!reading.IsCompleted)
                {
                    stream.Flush(); // the target is slower than the tunnel: what it sent so far goes now
                }

                var read = await reading.ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                // Small pieces may wait to share a batch with what follows; a full buffer goes at once.
                await stream.WriteAsync(buffer.AsMemory(0, read), stream.Aborted, flush: read >= FlushThreshold).ConfigureAwait(false);
            }

            stream.Complete(Trailers(response));
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
        {
            if (!stream.Aborted.IsCancellationRequested)
            {
                AgentLog.TargetFailed(_logger, _target, head.Method, $"response body failed: {ex.Message}");
                stream.Reset(ErrorCode.InternalError);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The target switched protocols: its connection is now a two-way byte stream, joined to the
    /// tunnel stream until the target closes it or the gateway's side ends or resets the stream.
    /// </summary>
    private async Task RelayUpgradedAsync(TunnelStream stream, string requested, HttpResponseMessage response)
    {
        var headers = TunnelHeaders.Collect(response.Headers, response.Content.Headers, spare: 1);
        headers.Add(new(HttpUpgrade.HeaderName, HttpUpgrade.Requested(response.Headers) ?? requested));
        stream.SendResponseHead(new ResponseHead { StatusCode = (int)HttpStatusCode.SwitchingProtocols, Headers = headers }, endStream: false);
        try
        {
            await using var connection = await response.Content.ReadAsStreamAsync(stream.Aborted).ConfigureAwait(false);
            var fromTarget = CopyFromTargetAsync(connection, stream);
            var toTarget = stream.CopyToAsync(connection, stream.Aborted);

            // The target closing its side ends the stream's response half; the gateway then ends the
            // request half once its client is done with the connection. A failure either way resets
            // the stream, which ends the other direction too.
            if (await Task.WhenAny(fromTarget, toTarget).ConfigureAwait(false) is { IsCompletedSuccessfully: false } failed
                && !stream.Aborted.IsCancellationRequested)
            {
                AgentLog.TargetFailed(_logger, _target, "GET", $"upgraded connection failed: {failed.Exception?.GetBaseException().Message ?? "canceled"}");
                stream.Reset(ErrorCode.Cancel);
            }

            await Task.WhenAll(fromTarget, toTarget).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException or TunnelStreamException)
        {
            if (!stream.Aborted.IsCancellationRequested)
            {
                AgentLog.TargetFailed(_logger, _target, "GET", $"upgraded connection failed: {ex.Message}");
            }

            stream.Reset(ErrorCode.Cancel);
        }
        finally
        {
            stream.CloseRead();
        }
    }

    private static async Task CopyFromTargetAsync(Stream connection, TunnelStream stream)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await connection.ReadAsync(buffer, stream.Aborted).ConfigureAwait(false)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read), stream.Aborted).ConfigureAwait(false);
            }

            stream.Complete();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static List<KeyValuePair<string, string>>? Trailers(HttpResponseMessage response)
    {
        List<KeyValuePair<string, string>>? trailers = null;
        foreach (var (name, values) in response.TrailingHeaders.NonValidated)
        {
            foreach (var value in values)
            {
                (trailers ??= []).Add(new(name, value));
            }
        }

        return trailers;
    }

    private static void Answer(TunnelStream stream, HttpStatusCode status, string message)
    {
        var body = System.Text.Encoding.UTF8.GetBytes(message);
        try
        {
            stream.SendResponseHead(new ResponseHead
            {
                StatusCode = (int)status,
                Headers = [new("Content-Type", "text/plain; charset=utf-8"), new("Content-Length", body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))],
            }, endStream: false);
            _ = SendAndCompleteAsync(stream, body);
        }
        catch (Exception ex) when (ex is TunnelStreamException or HeadersTooLargeException)
        {
            // The stream was reset meanwhile: nobody is waiting for this answer.
            stream.Reset(ErrorCode.InternalError);
        }
    }

    private static async Task SendAndCompleteAsync(TunnelStream stream, byte[] body)
    {
        try
        {
            await stream.WriteAsync(body, stream.Aborted).ConfigureAwait(false);
            stream.Complete();
            stream.CloseRead();
        }
        catch (Exception ex) when (ex is TunnelStreamException or OperationCanceledException)
        {
        }
    }

    public void Dispose() => _client.Dispose();
}
