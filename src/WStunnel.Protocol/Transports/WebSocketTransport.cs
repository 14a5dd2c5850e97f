using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using WStunnel.Protocol.Frames;

namespace WStunnel.Protocol.Transports;

/// <summary>Carries frame batches as binary WebSocket messages; message boundaries carry no meaning.</summary>
internal sealed class WebSocketTransport(WebSocket webSocket) : ITunnelTransport
{
    /// <summary>The WebSocket subprotocol both ends require; it names the protocol's major version.</summary>
    public const string SubProtocol = "wstunnel.v1";

    public string Name => "websocket";

    public ValueTask SendAsync(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken) =>
        webSocket.SendAsync(batch, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await webSocket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            switch (result.MessageType)
            {
                case WebSocketMessageType.Close:
                    return 0;
                case WebSocketMessageType.Text:
                    throw new TunnelProtocolException(ErrorCode.ProtocolError, "text WebSocket message on a binary tunnel");
                default:
                    if (result.Count > 0)
                    {
                        return result.Count;
                    }

                    break;
            }
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<bool> WaitToReceiveAsync(CancellationToken cancellationToken)
    {
        // A zero-byte receive waits for the next message's header in the WebSocket's own small buffer.
        var result = await webSocket.ReceiveAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        return result.MessageType switch
        {
            WebSocketMessageType.Close => false,
            WebSocketMessageType.Text => throw new TunnelProtocolException(ErrorCode.ProtocolError, "text WebSocket message on a binary tunnel"),
            _ => true,
        };
    }

    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (webSocket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await webSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "session closed", cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            webSocket.Abort();
        }
    }

    public void Abort() => webSocket.Abort();

    public ValueTask DisposeAsync()
    {
        webSocket.Dispose();
        return ValueTask.CompletedTask;
    }
}
