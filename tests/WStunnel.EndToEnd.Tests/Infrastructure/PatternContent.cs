using System.Net;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>A request body of <c>/bytes/N</c>'s pattern generated on the fly, so the test itself holds no large buffer.</summary>
internal sealed class PatternContent(long size) : HttpContent
{
    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        var buffer = new byte[64 * 1024];
        for (long offset = 0; offset < size;)
        {
            var n = (int)Math.Min(buffer.Length, size - offset);
            Backend.FillPattern(buffer.AsSpan(0, n), offset);
            await stream.WriteAsync(buffer.AsMemory(0, n));
            offset += n;
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = size;
        return true;
    }
}

/// <summary>The same pattern as a stream of unknown length, so HttpClient sends it chunked.</summary>
internal sealed class PatternStream(long size) : Stream
{
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = (int)Math.Min(count, size - _position);
        Backend.FillPattern(buffer.AsSpan(offset, n), _position);
        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
