using WStunnel.Protocol.Transports;

namespace WStunnel.Protocol.Tests.Session;

/// <summary>
/// One end of a link whose peer drops the connection as soon as this end closes its side, before
/// this end's close completes — as a server may, reading a WebSocket's close frame.
/// </summary>
internal sealed class DroppedOnCloseTransport(InMemoryTransport inner, Action dropByPeer) : ITunnelTransport
{
    public string Name => inner.Name;

    public ValueTask SendAsync(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken) => inner.SendAsync(batch, cancellationToken);

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) => inner.ReceiveAsync(buffer, cancellationToken);

    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        await inner.CloseAsync(cancellationToken);
        dropByPeer();
        await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken); // the close handshake this end waits for
    }

    public void Abort() => inner.Abort();

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
