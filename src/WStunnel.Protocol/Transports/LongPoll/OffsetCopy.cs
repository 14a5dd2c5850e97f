using System.Buffers;
using System.IO.Pipelines;

namespace WStunnel.Protocol.Transports.LongPoll;

/// <summary>
/// Both ends of a long-poll connection receive bodies that may start before what they already have
/// (a retried send, a repeated poll answer): the known prefix is skipped, the rest appended.
/// </summary>
internal static class OffsetCopy
{
    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/>, dropping its first
    /// <paramref name="alreadyHave"/> bytes; <paramref name="appended"/> hears of every chunk as it
    /// lands, so a body cut halfway still counts for what arrived.
    /// </summary>
    public static async Task CopyNewBytesAsync(Stream source, long alreadyHave, PipeWriter destination, Action<int> appended, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                var fresh = buffer.AsMemory(0, read);
                if (alreadyHave > 0)
                {
                    var skipped = (int)Math.Min(alreadyHave, read);
                    alreadyHave -= skipped;
                    fresh = fresh[skipped..];
                }

                if (!fresh.IsEmpty)
                {
                    await destination.WriteAsync(fresh, cancellationToken).ConfigureAwait(false);
                    appended(fresh.Length);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
