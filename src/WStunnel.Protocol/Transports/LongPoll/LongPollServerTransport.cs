using System.Buffers;
using System.IO.Pipelines;

namespace WStunnel.Protocol.Transports.LongPoll;

/// <summary>
/// The gateway's end of a long-poll connection. Sent bytes are kept until a poll acknowledges
/// them, so an answer lost on the way is sent again; at most <see cref="MaxUnacknowledgedBytes"/>
/// wait, which holds the session writer back like a full socket would.
/// </summary>
internal sealed class LongPollServerTransport : ITunnelTransport
{
    public const int MaxUnacknowledgedBytes = 4 * 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly LinkedList<Segment> _unacknowledged = new();
    private readonly List<byte[]> _releaseAfterWrite = [];
    private int _pollsWriting;
    private readonly Pipe _inbound = new(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private readonly CancellationTokenSource _closed = new();
    private TaskCompletionSource _dataAvailable = NewSignal();
    private TaskCompletionSource _acknowledged = NewSignal();
    private CancellationTokenSource? _currentPoll;
    private long _acknowledgedOffset;
    private long _sentOffset;
    private long _receivedOffset;

    public LongPollServerTransport(string connectionId) => ConnectionId = connectionId;

    public string Name => "longpoll";

    public string ConnectionId { get; }

    /// <summary>Cancelled when the connection is closed or aborted.</summary>
    public CancellationToken Closed => _closed.Token;

    // ---------------------------------------------------------------- the session's side

    public async ValueTask SendAsync(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                _closed.Token.ThrowIfCancellationRequested();
                if (_sentOffset - _acknowledgedOffset < MaxUnacknowledgedBytes)
                {
                    var copy = ArrayPool<byte>.Shared.Rent(batch.Length);
                    batch.Span.CopyTo(copy);
                    _unacknowledged.AddLast(new Segment(_sentOffset, copy, batch.Length));
                    _sentOffset += batch.Length;
                    _dataAvailable.TrySetResult();
                    return;
                }

                wait = _acknowledged.Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _inbound.Reader.ReadIntoAsync(buffer, cancellationToken);

    public Task CloseAsync(CancellationToken cancellationToken)
    {
        Close(null);
        return Task.CompletedTask;
    }

    public void Abort() => Close(new IOException("the long-poll connection was aborted"));

    public ValueTask DisposeAsync()
    {
        Close(null);
        return ValueTask.CompletedTask;
    }

    // ---------------------------------------------------------------- the HTTP endpoints' side

    /// <summary>
    /// Answers a poll: drops what <paramref name="acknowledged"/> confirms, then hands what follows it
    /// to <paramref name="answer"/> (with the offset it starts at) as soon as there is any, or nothing
    /// after <paramref name="timeout"/>. A newer poll ends an older one that still waits.
    /// </summary>
    public async Task<PollResult> PollAsync(long acknowledged, TimeSpan timeout, Func<long, IReadOnlyList<ReadOnlyMemory<byte>>, Task> answer, CancellationToken requestAborted)
    {
        CancellationTokenSource poll;
        lock (_lock)
        {
            if (acknowledged < _acknowledgedOffset || acknowledged > _sentOffset)
            {
                return PollResult.BadOffset;
            }

            Acknowledge(acknowledged);
            _currentPoll?.Cancel();
            poll = _currentPoll = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, _closed.Token);
        }

        using (poll)
        {
            poll.CancelAfter(timeout);
            while (true)
            {
                Task available;
                lock (_lock)
                {
                    if (_sentOffset > acknowledged || poll.IsCancellationRequested)
                    {
                        break;
                    }

                    available = _dataAvailable.Task;
                }

                try
                {
                    await available.WaitAsync(poll.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            var pieces = new List<ReadOnlyMemory<byte>>();
            lock (_lock)
            {
                if (ReferenceEquals(_currentPoll, poll))
                {
                    _currentPoll = null;
                }

                _pollsWriting++;

                var budget = LongPollProtocol.MaxPollBytes;
                foreach (var segment in _unacknowledged)
                {
                    var end = segment.Offset + segment.Length;
                    if (end <= acknowledged)
                    {
                        continue;
                    }

                    var skip = (int)Math.Max(0, acknowledged - segment.Offset);
                    var take = Math.Min(segment.Length - skip, budget);
                    pieces.Add(segment.Buffer.AsMemory(skip, take));
                    budget -= take;
                    if (budget == 0)
                    {
                        break;
                    }
                }
            }

            try
            {
                if (pieces.Count == 0 && _closed.IsCancellationRequested)
                {
                    return PollResult.Closed;
                }

                await answer(acknowledged, pieces).ConfigureAwait(false);
                return PollResult.Answered;
            }
            finally
            {
                // Segments acknowledged meanwhile (by a newer poll) go back to the pool only now.
                lock (_lock)
                {
                    if (--_pollsWriting == 0)
                    {
                        foreach (var buffer in _releaseAfterWrite)
                        {
                            ArrayPool<byte>.Shared.Return(buffer);
                        }

                        _releaseAfterWrite.Clear();
                    }
                }
            }
        }
    }

    /// <summary>
    /// Takes a send that starts at <paramref name="offset"/>: bytes already received (a retried send)
    /// are skipped, a gap is refused.
    /// </summary>
    public async Task<bool> AcceptAsync(long offset, Stream body, CancellationToken cancellationToken)
    {
        await _sendGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (offset > _receivedOffset)
            {
                return false;
            }

            await OffsetCopy.CopyNewBytesAsync(body, _receivedOffset - offset, _inbound.Writer, count => _receivedOffset += count, cancellationToken).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _sendGate.Release();
        }
    }

    private void Acknowledge(long offset)
    {
        var released = false;
        while (_unacknowledged.First is { } first && first.Value.Offset + first.Value.Length <= offset)
        {
            if (_pollsWriting > 0)
            {
                _releaseAfterWrite.Add(first.Value.Buffer);
            }
            else
            {
                ArrayPool<byte>.Shared.Return(first.Value.Buffer);
            }

            _unacknowledged.RemoveFirst();
            released = true;
        }

        _acknowledgedOffset = offset;
        if (released)
        {
            _acknowledged.TrySetResult();
            _acknowledged = NewSignal();
        }

        if (_sentOffset == _acknowledgedOffset)
        {
            _dataAvailable = _dataAvailable.Task.IsCompleted ? NewSignal() : _dataAvailable;
        }
    }

    private void Close(Exception? error)
    {
        lock (_lock)
        {
            if (_closed.IsCancellationRequested)
            {
                return;
            }

            _closed.Cancel();
            _acknowledged.TrySetResult();
            _dataAvailable.TrySetResult();
        }

        _inbound.Writer.Complete(error);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly record struct Segment(long Offset, byte[] Buffer, int Length);
}

/// <summary>How a poll ended.</summary>
internal enum PollResult
{
    Answered,
    Closed,
    BadOffset,
}
