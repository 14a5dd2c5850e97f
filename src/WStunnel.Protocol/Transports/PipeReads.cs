using System.Buffers;
using System.IO.Pipelines;

namespace WStunnel.Protocol.Transports;

/// <summary>Reads a pipe the way a stream is read: into the caller's buffer, 0 at the end.</summary>
internal static class PipeReads
{
    public static async ValueTask<int> ReadIntoAsync(this PipeReader reader, Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (!result.Buffer.IsEmpty)
            {
                var count = (int)Math.Min(result.Buffer.Length, destination.Length);
                result.Buffer.Slice(0, count).CopyTo(destination.Span);
                reader.AdvanceTo(result.Buffer.GetPosition(count));
                return count;
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return 0;
            }
        }
    }
}
