using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Protocol.Transports;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Endpoints;

/// <summary>
/// A Kestrel connection middleware (after <c>UseHttps</c>) that takes agents' WebSocket connections
/// off Kestrel's HTTP/1.1 processing. It reads the first request head of each connection; an agent's
/// upgrade is admitted by the same <see cref="AgentAdmission"/> as on the HTTP endpoint, answered
/// here, and its WebSocket runs straight on the connection's TLS stream. Every other connection —
/// public clients, long-poll agents, HTTP/2, anything unusual — goes on to Kestrel untouched.
/// </summary>
/// <remarks>
/// An upgraded HTTP/1.1 request keeps Kestrel's connection, request, header, feature and hosting
/// objects alive for as long as the WebSocket lives; for an idle agent that is most of the managed
/// memory the gateway spends on it. Here none of them exist.
/// </remarks>
internal sealed class DirectAgentConnections(
    ConnectionDelegate next,
    KestrelServerLimits limits,
    AgentRoutes routes,
    AgentAdmission admission,
    TunnelSessionRunner runner,
    TlsBufferRelease tlsBuffers,
    IOptions<WStunnelOptions> options,
    TimeProvider time,
    ILogger<DirectAgentConnections> logger)
{
    private int _unavailableLogged;

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        if (UsableTls(connection) is not { } tls || await AcceptAsync(connection, tls).ConfigureAwait(false) is not { } outcome)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        // Only what the session needs lives on: the head, its headers and the request made of them are gone.
        if (outcome.Accepted is var (tunnel, agent, transport))
        {
            await runner.RunAsync(tunnel, agent, transport, connection.ConnectionClosed).ConfigureAwait(false);
        }
    }

    /// <summary>Null when the connection is not an agent's upgrade (nothing read from it); otherwise whether it was admitted.</summary>
    private async Task<AgentOutcome?> AcceptAsync(ConnectionContext connection, SslStream tls)
    {
        AgentUpgradeHead? head;
        try
        {
            head = await ReadHeadAsync(connection).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // Closed, or no complete head in time: the connection ends here, as Kestrel ends one whose
            // first request does not arrive within its timeouts.
            ServerLog.DirectConnectionEnded(logger, (connection.RemoteEndPoint as IPEndPoint)?.Address, ex.Message);
            return new AgentOutcome(null);
        }

        return head is null ? null : new AgentOutcome(await AdmitAsync(connection, tls, head).ConfigureAwait(false));
    }

    private sealed record AgentOutcome((TunnelEntry Tunnel, AgentIdentity Agent, ITunnelTransport Transport)? Accepted);

    /// <summary>The connection's TLS stream when agents may connect directly on it; null to leave it to Kestrel.</summary>
    private SslStream? UsableTls(ConnectionContext connection)
    {
        var settings = options.Value;
        var unavailable = !settings.DirectAgentConnections ? "WStunnel:DirectAgentConnections is off"
            : !settings.TlsWriteThrough ? "WStunnel:TlsWriteThrough is off"
            : routes.Unavailable;
        if (unavailable is not null)
        {
            LogUnavailableOnce(unavailable);
            return null;
        }

        if (connection.Features.Get<ISslStreamFeature>()?.SslStream is not { } tls)
        {
            LogUnavailableOnce("UseWStunnelAgents() is not placed after UseHttps() on this endpoint");
            return null;
        }

        // HTTP/2 carries WebSockets as streams of a shared connection (RFC 8441): Kestrel's to serve.
        return tls.NegotiatedApplicationProtocol == SslApplicationProtocol.Http2 ? null : tls;
    }

    private void LogUnavailableOnce(string reason)
    {
        if (Interlocked.Exchange(ref _unavailableLogged, 1) == 0)
        {
            ServerLog.DirectAgentConnectionsUnavailable(logger, reason);
        }
    }

    /// <summary>
    /// The agent's upgrade head, consumed from the connection; or null, with nothing consumed, when the
    /// connection is not an agent's upgrade.
    /// </summary>
    private async Task<AgentUpgradeHead?> ReadHeadAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var maxHead = (int)Math.Min(limits.MaxRequestLineSize + (long)limits.MaxRequestHeadersTotalSize, int.MaxValue);
        // Kestrel's clocks: a new connection may idle for KeepAliveTimeout (browsers open some ahead of
        // need); once its first bytes arrive, the rest of the head has RequestHeadersTimeout.
        using var timeout = new CancellationTokenSource(limits.KeepAliveTimeout, time);
        var started = false;
        while (true)
        {
            var read = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
            var buffer = read.Buffer;
            if (!started && !buffer.IsEmpty)
            {
                started = true;
                timeout.CancelAfter(limits.RequestHeadersTimeout);
            }

            switch (AgentUpgradeHead.TryRead(buffer, routes.Routes, maxHead, limits.MaxRequestHeaderCount, out var head))
            {
                case UpgradeHeadOutcome.Agent:
                    input.AdvanceTo(buffer.GetPosition(head!.Length));
                    return head;
                case UpgradeHeadOutcome.NeedMore when !read.IsCompleted:
                    input.AdvanceTo(buffer.Start, buffer.End);
                    break;
                default:
                    // Examined nothing: Kestrel's first read returns these bytes at once.
                    input.AdvanceTo(buffer.Start, buffer.Start);
                    return null;
            }
        }
    }

    /// <summary>
    /// Admits the agent by the HTTP endpoint's rules, on a request made of its head alone, and answers:
    /// a refusal (then null) or 101 Switching Protocols and the WebSocket transport.
    /// </summary>
    private async Task<(TunnelEntry Tunnel, AgentIdentity Agent, ITunnelTransport Transport)?> AdmitAsync(
        ConnectionContext connection, SslStream tls, AgentUpgradeHead head)
    {
        var response = new HttpResponseFeature();
        using var body = new MemoryStream();
        var context = RequestOf(connection, head, response, body);
        try
        {
            if (await admission.AdmitAsync(context).ConfigureAwait(false) is not var (tunnel, agent))
            {
                await tls.WriteAsync(Refusal(response, body), connection.ConnectionClosed).ConfigureAwait(false);
                await tls.FlushAsync(connection.ConnectionClosed).ConfigureAwait(false);
                return null;
            }

            await tls.WriteAsync(SwitchingProtocols(head.WebSocketKey), connection.ConnectionClosed).ConfigureAwait(false);
            await tls.FlushAsync(connection.ConnectionClosed).ConfigureAwait(false);
            tlsBuffers.Apply(tls);
            var webSocket = AgentWebSocketAcceptor.ServerWebSocket(new DirectAgentStream(Unread(connection.Transport.Input), tls));
            return (tunnel, agent, new WebSocketTransport(webSocket));
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            ServerLog.DirectConnectionEnded(logger, context.Connection.RemoteIpAddress, ex.Message);
            return null;
        }
    }

    /// <summary>The request <see cref="AgentAdmission"/> judges: the head, the connection's addresses and TLS, a buffered answer.</summary>
    private static DefaultHttpContext RequestOf(ConnectionContext connection, AgentUpgradeHead head, HttpResponseFeature response, MemoryStream body)
    {
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(new HttpRequestFeature
        {
            Protocol = "HTTP/1.1",
            Scheme = "https",
            Method = HttpMethods.Get,
            Path = head.Path,
            QueryString = head.Query,
            RawTarget = head.Path + head.Query,
            Headers = head.Headers,
        });
        features.Set<IHttpResponseFeature>(response);
        features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(body));
        var remote = connection.RemoteEndPoint as IPEndPoint;
        var local = connection.LocalEndPoint as IPEndPoint;
        features.Set<IHttpConnectionFeature>(new HttpConnectionFeature
        {
            ConnectionId = connection.ConnectionId,
            RemoteIpAddress = remote?.Address,
            RemotePort = remote?.Port ?? 0,
            LocalIpAddress = local?.Address,
            LocalPort = local?.Port ?? 0,
        });
        if (connection.Features.Get<ITlsConnectionFeature>() is { } tlsFeature)
        {
            features.Set(tlsFeature);
        }

        features.Set<IHttpRequestLifetimeFeature>(new HttpRequestLifetimeFeature { RequestAborted = connection.ConnectionClosed });
        return new DefaultHttpContext(features);
    }

    /// <summary>Bytes the agent sent after its head (none, normally: it waits for the 101), taken out of Kestrel's input.</summary>
    private static byte[] Unread(PipeReader input)
    {
        if (!input.TryRead(out var rest))
        {
            return [];
        }

        var bytes = rest.Buffer.ToArray();
        input.AdvanceTo(rest.Buffer.End);
        return bytes;
    }

    private static byte[] SwitchingProtocols(string key) => Encoding.ASCII.GetBytes(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        + $"Sec-WebSocket-Accept: {AgentWebSocketAcceptor.AcceptKey(key)}\r\nSec-WebSocket-Protocol: {WebSocketTransport.SubProtocol}\r\n\r\n");

    /// <summary>The refusal <see cref="AgentAdmission"/> wrote, as an HTTP/1.1 response that closes the connection.</summary>
    private static byte[] Refusal(HttpResponseFeature response, MemoryStream body)
    {
        var head = new StringBuilder();
        head.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {response.StatusCode} {ReasonPhrases.GetReasonPhrase(response.StatusCode)}\r\n");
        foreach (var (name, values) in response.Headers)
        {
            foreach (var value in values)
            {
                head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
            }
        }

        head.Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        var bytes = new byte[Encoding.UTF8.GetByteCount(head.ToString()) + body.Length];
        var written = Encoding.UTF8.GetBytes(head.ToString(), bytes);
        body.GetBuffer().AsSpan(0, (int)body.Length).CopyTo(bytes.AsSpan(written));
        return bytes;
    }
}
