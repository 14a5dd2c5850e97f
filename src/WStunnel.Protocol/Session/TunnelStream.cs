using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using WStunnel.Protocol.Frames;

namespace WStunnel.Protocol.Session;

/// <summary>
/// One HTTP exchange inside a session. The gateway opens it with a request head; the agent answers
/// with a response head. Bodies flow both ways under per-stream and per-session credit; inbound
/// bytes wait in a pipe no larger than the stream window this end granted.
/// </summary>
[SuppressMessage("Design", "CA1001", Justification = "The abort source has no timer; nothing to release when it is collected.")]
internal sealed class TunnelStream
{
    private static readonly PipeOptions InboundPipeOptions = new(
        pauseWriterThreshold: 0, // flow control bounds the pipe; the session reader must never block
        resumeWriterThreshold: 0,
        minimumSegmentSize: 16 * 1024,
        useSynchronizationContext: false);

    private static readonly Task<bool> Wanted = Task.FromResult(true);

    private readonly TunnelSession _session;
    private readonly Pipe _inbound = new(InboundPipeOptions);
    private readonly Lock _inboundLock = new();
    // Completed by the read loop outside its lock once it has read the frames that came with the head;
    // the waiting request goes on inline, sparing a hop through the thread pool per response, and
    // finds at least the first part of the body already there.
    private readonly TaskCompletionSource<ResponseHead> _responseHead = new();
    private readonly CancellationTokenSource _aborted = new();
    private TaskCompletionSource<bool>? _bodyWanted; // only for a request whose body waits for 100-continue
    private bool _inboundCompleted;

    internal TunnelStream(TunnelSession session, uint id, long sendWindow, RequestHead? requestHead)
    {
        _session = session;
        Id = id;
        SendWindow = sendWindow;
        RequestHead = requestHead;
    }

    public uint Id { get; }

    /// <summary>The request this stream carries (on the agent's side).</summary>
    public RequestHead? RequestHead { get; }

    /// <summary>Whether a request body follows the request head (on the agent's side).</summary>
    public bool RequestHasBody { get; init; }

    /// <summary>Trailers the peer sent, available once <see cref="ReadAsync"/> returned 0.</summary>
    public List<KeyValuePair<string, string>>? Trailers { get; private set; }

    /// <summary>Cancelled when the stream is reset by either end or its session is lost.</summary>
    public CancellationToken Aborted => _aborted.Token;

    /// <summary>The response head (on the gateway's side).</summary>
    public Task<ResponseHead> ResponseHead => _responseHead.Task;

    /// <summary>
    /// For a request that waits for 100-continue (gateway side): true once the agent's target asks for
    /// the body, false if it never will — the answer came without it, or the stream ended.
    /// </summary>
    public Task<bool> BodyWanted => _bodyWanted?.Task ?? Wanted;

    /// <summary>Whether this request's body waits until the agent's target asks for it (gateway side).</summary>
    public bool HoldsBody
    {
        get => _bodyWanted is not null;
        init => _bodyWanted = value ? new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously) : null;
    }

    /// <summary>Whether the gateway holds this request's body until <see cref="SendContinue"/> (agent side).</summary>
    public bool WaitsForContinue { get; init; }

    // State below is guarded by the session's lock.
    internal long SendWindow;
    internal int ReceiveUsed;
    internal int ReceiveCreditPending;
    internal int UnreadBytes;
    internal bool LocalEnded;
    internal bool RemoteEnded;
    internal bool ReaderClosed;
    internal bool Scheduled;

    // This end stopped reading while the peer still sent: once its own half ends, it asks the peer to stop.
    internal bool StopWanted;
    internal bool ContinueSent;
    internal bool ResponseHeadReceived; // gateway side; the head itself is delivered once its batch is read

    internal readonly Queue<OutgoingFrame> Outgoing = new();
    internal WakeSignal? CreditSignal;

    /// <summary>
    /// Whether the peer, its own half complete, asked this end to stop sending (a <c>Reset</c> with
    /// <see cref="ErrorCode.NoError"/>, as HTTP/2's <c>RST_STREAM(NO_ERROR)</c>): what it sent stays readable.
    /// </summary>
    public bool StoppedByPeer { get; internal set; }

    /// <summary>Whether this end already sent its response head (agent side).</summary>
    public bool ResponseHeadSent { get; internal set; }

    /// <summary>
    /// Sends the response head (agent side). With <paramref name="flush"/> false the head waits for
    /// the stream's next flushing write, <see cref="Flush"/> or <see cref="Complete"/>, so that a small
    /// answer leaves in one batch instead of three.
    /// </summary>
    public void SendResponseHead(ResponseHead head, bool endStream, bool flush = true) => _session.SendResponseHead(this, head, endStream, flush);

    /// <summary>
    /// Sends body bytes, waiting for credit; never holds more than the peer's window. With
    /// <paramref name="flush"/> false the bytes may wait, as for <see cref="SendResponseHead"/>; they
    /// never wait for credit unsent. One write at a time, as on any <see cref="Stream"/>.
    /// </summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken, bool flush = true) =>
        _session.WriteDataAsync(this, data, flush, cancellationToken);

    /// <summary>Asks the gateway for a request body it holds (agent side; once, and only if <see cref="WaitsForContinue"/>).</summary>
    public void SendContinue()
    {
        if (WaitsForContinue)
        {
            _session.SendContinue(this);
        }
    }

    /// <summary>Sends whatever this stream queued without flushing.</summary>
    public void Flush() => _session.FlushStream(this);

    /// <summary>Ends this end's half of the stream, with trailers when there are any.</summary>
    public void Complete(List<KeyValuePair<string, string>>? trailers = null) => _session.CompleteStream(this, trailers);

    /// <summary>Ends this end's half like <see cref="Complete"/>, unless it can no longer be written (reset meanwhile); returns whether it ended it.</summary>
    public bool TryComplete()
    {
        try
        {
            Complete();
            return true;
        }
        catch (TunnelStreamException)
        {
            return false; // whoever reads the stream learns of the reset
        }
    }

    /// <summary>Abandons the stream in both directions.</summary>
    public void Reset(ErrorCode code = ErrorCode.Cancel) => _session.ResetStream(this, code, sendFrame: true);

    /// <summary>Reads inbound body bytes; 0 at the end of the body. Throws <see cref="TunnelStreamException"/> when the stream was reset.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (destination.IsEmpty)
        {
            return 0;
        }

        var reader = _inbound.Reader;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (!buffer.IsEmpty)
            {
                var count = (int)Math.Min(buffer.Length, destination.Length);
                buffer.Slice(0, count).CopyTo(destination.Span);
                reader.AdvanceTo(buffer.GetPosition(count));
                _session.OnConsumed(this, count);
                return count;
            }

            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.End);
                return 0;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// Writes the inbound body to <paramref name="destination"/> straight from the stream's own buffers
    /// (no copy in between, unlike <see cref="ReadAsync"/>) until the body ends; their credit goes back
    /// once written. Throws <see cref="TunnelStreamException"/> when the stream was reset.
    /// </summary>
    public async Task CopyToAsync(Stream destination, CancellationToken cancellationToken)
    {
        var reader = _inbound.Reader;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var length = (int)buffer.Length; // taken now: once advanced past, the buffer's segments go back to the pipe's pool
            foreach (var segment in buffer)
            {
                await destination.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
            }

            reader.AdvanceTo(buffer.End);
            if (length > 0)
            {
                _session.OnConsumed(this, length);
            }

            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>The consumer is done reading; unread bytes are credited back to the session.</summary>
    public void CloseRead()
    {
        _session.OnReaderClosed(this);
        _inbound.Reader.Complete();
    }

    internal void DeliverResponseHead(ResponseHead head) => _responseHead.TrySetResult(head);

    internal void DeliverContinue() => _bodyWanted?.TrySetResult(true);

    internal void BodyNotWanted() => _bodyWanted?.TrySetResult(false);

    /// <summary>Called by the session reader only; returns false when the consumer no longer reads.</summary>
    internal bool DeliverData(ReadOnlySpan<byte> data)
    {
        lock (_inboundLock)
        {
            if (_inboundCompleted)
            {
                return false;
            }

            var writer = _inbound.Writer;
            // One segment that fits the whole frame when the current one has no room: a 64 KiB frame
            // is then one copy into one segment, not four into 16 KiB ones (small frames still get 16 KiB).
            data.CopyTo(writer.GetSpan(data.Length));
            writer.Advance(data.Length);
            // Completes synchronously: the pipe never pauses its writer, flow control bounds it instead.
            var flush = writer.FlushAsync(CancellationToken.None);
            Debug.Assert(flush.IsCompleted);
            if (flush.IsCompleted)
            {
                flush.GetAwaiter().GetResult();
            }
            return true;
        }
    }

    internal void DeliverEnd(List<KeyValuePair<string, string>>? trailers)
    {
        lock (_inboundLock)
        {
            if (_inboundCompleted)
            {
                return;
            }

            Trailers = trailers;
            _inboundCompleted = true;
            _inbound.Writer.Complete();
        }

        BodyNotWanted(); // answered in full: no body is wanted any more
    }

    internal void Fail(Exception error)
    {
        lock (_inboundLock)
        {
            if (!_inboundCompleted)
            {
                _inboundCompleted = true;
                _inbound.Writer.Complete(error);
            }
        }

        _responseHead.TrySetException(error);
        _ = _responseHead.Task.Exception; // observed: a reset before the head is a normal outcome
        BodyNotWanted();
        try
        {
            _aborted.Cancel();
        }
        catch (AggregateException)
        {
            // A callback registered by a consumer failed; the stream is gone either way.
        }
    }

    /// <summary>Drops frames not yet written; returns the data bytes among them so their credit can be restored.</summary>
    internal int DiscardOutgoing()
    {
        var dataBytes = 0;
        while (Outgoing.TryDequeue(out var frame))
        {
            if (frame.Type == FrameType.Data)
            {
                dataBytes += frame.Length;
            }

            frame.ReturnPayload();
        }

        return dataBytes;
    }
}
