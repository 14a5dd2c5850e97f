using System.Net.Security;

namespace WStunnel.Server.Endpoints;

/// <summary>
/// An upgraded HTTP/1.1 connection seen as one stream: reads come through Kestrel (its read loop owns
/// the connection's input), writes go straight into the connection's <see cref="SslStream"/>.
/// </summary>
/// <remarks>
/// Kestrel's output pipe hands <see cref="SslStream"/> one 4 KiB memory block at a time, so every
/// write of an upgraded connection leaves as 4 KiB TLS records: a 64 KiB frame batch costs sixteen
/// encryptions here and sixteen decryptions at the agent. Written whole, it leaves as four 16 KiB
/// records. Once the 101 response is flushed Kestrel writes nothing more on an upgraded HTTP/1.1
/// connection, so this stream is the connection's only writer; the WebSocket serialises its own
/// sends. The <see cref="SslStream"/> stays Kestrel's to close. A connection middleware placed after
/// <c>UseHttps</c> does not see these writes; <see cref="WStunnelOptions.TlsWriteThrough"/> turns
/// this stream off for such gateways.
/// </remarks>
internal sealed class TlsWriteThroughStream(Stream upgraded, SslStream tls) : Stream
{
    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => upgraded.Read(buffer, offset, count);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        upgraded.ReadAsync(buffer, offset, count, cancellationToken);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        upgraded.ReadAsync(buffer, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => tls.Write(buffer, offset, count);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        tls.WriteAsync(buffer, offset, count, cancellationToken);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        tls.WriteAsync(buffer, cancellationToken);

    public override void Flush() => tls.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => tls.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            upgraded.Dispose();
        }

        base.Dispose(disposing);
    }
}
