using System.Net.Security;

namespace WStunnel.Server.Endpoints;

/// <summary>
/// A directly connected agent's WebSocket stream: the connection's <see cref="SslStream"/> both ways,
/// after any bytes the agent sent behind its upgrade head, which Kestrel's input had already read.
/// </summary>
/// <remarks>
/// Reading the <see cref="SslStream"/> itself rather than Kestrel's input pipe over it leaves no read
/// pending in the pipe for the connection's life (a state machine and its buffer segments per
/// idle agent). Nothing else reads or writes the stream once the 101 response is out. The
/// <see cref="SslStream"/> stays Kestrel's: its TLS middleware disposes it when the connection ends.
/// </remarks>
internal sealed class DirectAgentStream(byte[] unread, SslStream tls) : TlsWritingStream(tls)
{
    private ReadOnlyMemory<byte> _unread = unread;

    public override int Read(Span<byte> buffer) => _unread.IsEmpty ? Tls.Read(buffer) : TakeUnread(buffer);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _unread.IsEmpty ? Tls.ReadAsync(buffer, cancellationToken) : ValueTask.FromResult(TakeUnread(buffer.Span));

    private int TakeUnread(Span<byte> buffer)
    {
        var count = Math.Min(buffer.Length, _unread.Length);
        _unread.Span[..count].CopyTo(buffer);
        _unread = _unread[count..];
        return count;
    }
}
