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
internal sealed class TlsWriteThroughStream(Stream upgraded, SslStream tls) : TlsWritingStream(tls)
{
    public override int Read(Span<byte> buffer) => upgraded.Read(buffer);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        upgraded.ReadAsync(buffer, cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            upgraded.Dispose();
        }

        base.Dispose(disposing);
    }
}
