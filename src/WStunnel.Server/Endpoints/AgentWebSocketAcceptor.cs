using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Net.Http.Headers;
using WStunnel.Protocol.Transports;

namespace WStunnel.Server.Endpoints;

/// <summary>
/// Accepts an agent's WebSocket. Over HTTP/1.1 and Kestrel's TLS it does the RFC 6455 handshake
/// itself so that the WebSocket can write through to the connection's TLS stream
/// (<see cref="TlsWriteThroughStream"/>); anywhere else (no TLS at Kestrel, HTTP/2, other servers)
/// or with <see cref="WStunnelOptions.TlsWriteThrough"/> off it is ASP.NET Core's own accept.
/// </summary>
internal static class AgentWebSocketAcceptor
{
    // RFC 6455 section 1.3: the GUID every server appends to the client's key.
    private const string HandshakeGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    public static async Task<WebSocket> AcceptAsync(HttpContext context, bool writeThrough)
    {
        ArgumentNullException.ThrowIfNull(context);

        if (writeThrough
            && HttpProtocol.IsHttp11(context.Request.Protocol)
            && context.Features.Get<ISslStreamFeature>()?.SslStream is { } tls
            && context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
        {
            // What ASP.NET Core's accept does too: a tunnel outlives any request timeout.
            context.Features.Get<IHttpRequestTimeoutFeature>()?.DisableTimeout();

            var headers = context.Response.Headers;
            headers.Connection = HeaderNames.Upgrade;
            headers.Upgrade = "websocket";
            headers.SecWebSocketAccept = AcceptKey(context.Request.Headers.SecWebSocketKey.ToString());
            headers.SecWebSocketProtocol = WebSocketTransport.SubProtocol;
            var upgraded = await upgrade.UpgradeAsync().ConfigureAwait(false);

            // The 101 response travels through Kestrel's output: it must be in the TLS stream before the first frame.
            await upgraded.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            return ServerWebSocket(new TlsWriteThroughStream(upgraded, tls));
        }

        return await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = WebSocketTransport.SubProtocol,

            // The session's own ping and pong watch the link (KeepAliveInterval/Timeout, on every
            // transport); WebSocket pings on top would triple the keep-alive traffic of each idle tunnel.
            KeepAliveInterval = TimeSpan.Zero,
        }).ConfigureAwait(false);
    }

    /// <summary>The gateway's end of an agent's WebSocket over a stream whose handshake is done.</summary>
    internal static WebSocket ServerWebSocket(Stream stream) => WebSocket.CreateFromStream(stream, new WebSocketCreationOptions
    {
        IsServer = true,
        SubProtocol = WebSocketTransport.SubProtocol,
        KeepAliveInterval = TimeSpan.Zero, // the session's own ping watches the link (see AcceptWebSocketAsync below)
    });

    /// <summary>The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key (RFC 6455 section 4.2.2).</summary>
    internal static string AcceptKey(string key)
    {
        Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 here; the value proves the server read the handshake, it protects nothing.
        SHA1.HashData(Encoding.ASCII.GetBytes(key + HandshakeGuid), hash);
#pragma warning restore CA5350
        return Convert.ToBase64String(hash);
    }
}
