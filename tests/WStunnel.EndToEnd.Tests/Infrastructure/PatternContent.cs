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
