using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Http;
using WStunnel.Protocol.Transports;

namespace WStunnel.Protocol.Session;

/// <summary>
/// Multiplexes streams over one transport: a reader that dispatches frames, a writer that sends
/// control frames first and interleaves data from ready streams round-robin, credit-based flow
/// control per stream and per session, sequence counting with cumulative acknowledgements, and
/// keep-alive. The session knows nothing of the transport beyond <see cref="ITunnelTransport"/>.
/// </summary>
internal sealed class TunnelSession : IAsyncDisposable
{
    public const ushort ProtocolVersion = 1;
    private const int MaxBatchBytes = 256 * 1024;
    private const int AckEveryFrames = 32;

    private readonly TunnelSessionOptions _options;
    private readonly SessionLimits _local;
    private readonly SessionRole _role;
    private readonly Lock _lock = new();
    private readonly Dictionary<uint, TunnelStream> _streams = [];
    private readonly Queue<OutgoingFrame> _control = new();
    private readonly Queue<TunnelStream> _ready = new();
    private readonly List<TunnelStream> _sessionCreditWaiters = [];
    // Wake-ups for the write loop; it drains them all and sends whatever is queued.
    private readonly WakeSignal _wake = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _receiveBufferSize;
    private byte[] _receiveBuffer = []; // rented only while bytes are expected: an idle session holds none
    private int _receiveStart;
    private int _receiveEnd;
    // What the read loop hands on once it has read every whole frame it holds: a response head then
    // finds the body that came with it, and a request's handler the body of its request.
    private readonly List<(TunnelStream Stream, ResponseHead? Head, Func<TunnelStream, Task>? Handler)> _arrivals = [];

    // The connection under the session: replaced when the session resumes on a new one.
    private ITunnelTransport _transport;
    private CancellationTokenSource _connection = new();
    private TaskCompletionSource _attachmentEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _detached;
    private int _detachments;

    // Sequenced frames sent but not yet acknowledged, kept so a resumed session can send them again.
    private readonly Queue<(ulong Sequence, OutgoingFrame Frame)> _replay = new();
    private readonly Queue<(ulong Sequence, OutgoingFrame Frame)> _resend = new();
    private long _replayBytes;
    private bool _resumable;

    private SessionLimits _remote = SessionLimits.Default;
    private SemaphoreSlim? _streamSlots;
    private Func<TunnelStream, Task>? _onStream;
    private long _sessionSendWindow;
    private int _sessionReceiveUsed;
    private int _sessionCreditPending;
    private uint _nextStreamId = 1;
    private uint _lastRemoteStreamId;
    private ulong _sentSequence;
    private ulong _receivedSequence;
    private ulong _lastAckSent;
    private ulong _peerAcknowledged;
    private long _lastReceiveTimestamp;
    private bool _goingAway;
    private bool _closeRequested;
    private bool _terminated;
    private KeepAliveSchedule? _keepAlive;
    private Task _writeLoop = Task.CompletedTask;
    private Task _readLoop = Task.CompletedTask;

    private TunnelSession(ITunnelTransport transport, TunnelSessionOptions options, SessionRole role)
    {
        _transport = transport;
        _options = options;
        _local = options.Limits;
        _role = role;
        _resumable = options.ResumeWindow > TimeSpan.Zero;
        _receiveBufferSize = Math.Max(64 * 1024, 2 * (_local.MaxFramePayload + FrameHeader.Size));
        _lastReceiveTimestamp = options.TimeProvider.GetTimestamp();
    }

    /// <summary>The id the gateway issued for this session.</summary>
    public Guid SessionId { get; private set; }

    /// <summary>What the peer announced in its hello; a resumed session keeps its first peer's (the same process).</summary>
    public SessionFeatures PeerFeatures { get; private set; }

    /// <summary>A feature is in use only when both ends announced it.</summary>
    private bool BothAnnounced(SessionFeatures feature) => _options.Features.HasFlag(feature) && PeerFeatures.HasFlag(feature);

    /// <summary>The transport's name, e.g. <c>websocket</c>.</summary>
    public string TransportName => _transport.Name;

    /// <summary>Completes (never faults) when the session has ended; <see cref="Failure"/> says why.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Why the session ended; null for an orderly close.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>The peer sent go-away: it takes no new streams.</summary>
    public bool RemoteGoingAway { get; private set; }

    /// <summary>True while new streams may be opened on this session.</summary>
    public bool IsAvailable
    {
        get
        {
            lock (_lock)
            {
                return !_terminated && !_detached && !_goingAway && !RemoteGoingAway;
            }
        }
    }

    public int ActiveStreams
    {
        get
        {
            lock (_lock)
            {
                return _streams.Count;
            }
        }
    }

    /// <summary>Sequenced frames the peer has acknowledged.</summary>
    public ulong PeerAcknowledged => Volatile.Read(ref _peerAcknowledged);

    /// <summary>Whether the write loop waits for work, having sent everything queued.</summary>
    internal bool WriterIdle => _wake.IsWaiting;

    /// <summary>The connection under the session was lost; it waits for the agent to resume it.</summary>
    public bool IsDetached
    {
        get
        {
            lock (_lock)
            {
                return _detached && !_terminated;
            }
        }
    }

    /// <summary>Completes when the current connection stops carrying the session (lost, or the session ended).</summary>
    public Task AttachmentEnded
    {
        get
        {
            lock (_lock)
            {
                return _attachmentEnded.Task;
            }
        }
    }

    /// <summary>How many times the session moved to a new connection.</summary>
    public int Resumptions { get; private set; }

    /// <summary>
    /// Exchanges hellos over <paramref name="transport"/> and starts the session — a new one, or,
    /// when both ends still have it, a detached one continued on this connection (the agent offers
    /// <paramref name="resume"/>; the gateway looks it up with <paramref name="findResumable"/>).
    /// The agent passes <paramref name="onStream"/> to answer the streams the gateway opens. The
    /// agent speaks first; the gateway answers only after <paramref name="onEstablished"/> ran for a
    /// new session, so by the time the agent sees the gateway's hello, requests already reach it.
    /// </summary>
    public static async Task<TunnelSession> StartAsync(
        ITunnelTransport transport,
        TunnelSessionOptions options,
        SessionRole role,
        Func<TunnelStream, Task>? onStream,
        CancellationToken cancellationToken,
        Action<TunnelSession>? onEstablished = null,
        TunnelSession? resume = null,
        Func<Guid, TunnelSession?>? findResumable = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(options);
        var session = new TunnelSession(transport, options, role) { _onStream = onStream };
        TunnelSession? resumed;
        try
        {
            resumed = await session.HandshakeAsync(onEstablished, resume, findResumable, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            session.Terminate(ex);
            throw;
        }

        if (resumed is not null)
        {
            // The connection now carries the resumed session; this one only ran the handshake.
            session.ReleaseHandshakeShell();
            return resumed;
        }

        session.StartLoops();
        if (options.KeepAliveInterval > TimeSpan.Zero && options.KeepAliveInterval != Timeout.InfiniteTimeSpan)
        {
            session.StartKeepAlive();
        }

        return session;
    }

    private void StartLoops()
    {
        _writeLoop = WriteLoopAsync();
        _readLoop = ReadLoopAsync();
    }

    private void ReleaseHandshakeShell()
    {
        lock (_lock)
        {
            _terminated = true;
        }

        _stopping.Cancel();
        ReturnReceiveBuffer();
        _completion.TrySetResult();
    }

    // ---------------------------------------------------------------- handshake

    private async Task<TunnelSession?> HandshakeAsync(
        Action<TunnelSession>? onEstablished, TunnelSession? resume, Func<Guid, TunnelSession?>? findResumable, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.HandshakeTimeout, _options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            if (_role == SessionRole.Agent)
            {
                var (resumeId, received) = resume is null ? (Guid.Empty, 0UL) : (resume.SessionId, resume.ReceivedSequence);
                await SendHelloAsync(resumeId, received, linked.Token).ConfigureAwait(false);
            }

            var header = await ReceiveFrameAsync(linked.Token).ConfigureAwait(false);
            if (header.Type != FrameType.Hello)
            {
                throw new TunnelProtocolException(ErrorCode.ProtocolError, $"expected a hello frame, got {header.Type}");
            }

            var peer = HelloMessage.Read(_receiveBuffer.AsSpan(_receiveStart + FrameHeader.Size, header.Length));
            _receiveStart += FrameHeader.Size + header.Length;
            if (peer.MinVersion > ProtocolVersion || peer.MaxVersion < ProtocolVersion)
            {
                throw new TunnelProtocolException(ErrorCode.UnsupportedVersion,
                    $"peer speaks protocol versions {peer.MinVersion}..{peer.MaxVersion}, this end speaks {ProtocolVersion}");
            }

            var leftover = _receiveBuffer.AsSpan(_receiveStart, _receiveEnd - _receiveStart).ToArray();
            if (_role == SessionRole.Gateway)
            {
                if (peer.SessionId != Guid.Empty && findResumable?.Invoke(peer.SessionId) is { } target
                    && await target.ReattachAsync(_transport, peer.LastReceivedSequence, leftover,
                        () => SendHelloAsync(target.SessionId, target.ReceivedSequence, linked.Token)).ConfigureAwait(false))
                {
                    return target;
                }

                SetUp(peer, Guid.NewGuid());

                // Streams opened from here on wait in the queue until the write loop starts, after the hello.
                onEstablished?.Invoke(this);
                await SendHelloAsync(SessionId, 0, linked.Token).ConfigureAwait(false);
                return null;
            }

            if (resume is not null)
            {
                if (peer.SessionId == resume.SessionId
                    && await resume.ReattachAsync(_transport, peer.LastReceivedSequence, leftover, null).ConfigureAwait(false))
                {
                    return resume;
                }

                resume.Terminate(new IOException("the gateway could not resume the session"));
            }

            SetUp(peer, peer.SessionId);
            return null;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the peer sent no hello within {_options.HandshakeTimeout.TotalSeconds:0.#} s");
        }
    }

    private void SetUp(HelloMessage peer, Guid sessionId)
    {
        _remote = peer.Limits;
        PeerFeatures = peer.Features;
        _sessionSendWindow = peer.Limits.InitialSessionWindow;
        SessionId = sessionId;
        if (_role == SessionRole.Gateway)
        {
            // Only the gateway opens streams: the agent's limit binds them, and so does the gateway's
            // own, which its operator sets as the most requests one tunnel carries at once.
            _streamSlots = new SemaphoreSlim(Math.Min(peer.Limits.MaxConcurrentStreams, _local.MaxConcurrentStreams));
        }
    }

    private async Task SendHelloAsync(Guid sessionId, ulong lastReceived, CancellationToken cancellationToken)
    {
        var frame = new byte[FrameHeader.Size + HelloMessage.Size];
        new FrameHeader(FrameType.Hello, FrameFlags.None, 0, HelloMessage.Size).Write(frame);
        new HelloMessage(ProtocolVersion, ProtocolVersion, _local, sessionId, lastReceived, _options.Features).Write(frame.AsSpan(FrameHeader.Size));
        await _transport.SendAsync(frame, cancellationToken).ConfigureAwait(false);
    }

    private ulong ReceivedSequence => Volatile.Read(ref _receivedSequence);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FrameHeader> ReceiveFrameAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_receiveEnd - _receiveStart >= FrameHeader.Size)
            {
                var header = FrameHeader.Read(_receiveBuffer.AsSpan(_receiveStart), _local.MaxFramePayload);
                if (_receiveEnd - _receiveStart >= FrameHeader.Size + header.Length)
                {
                    return header;
                }
            }

            HandOnArrivals();
            await ReceiveMoreAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReceiveMoreAsync(CancellationToken cancellationToken)
    {
        if (_receiveStart == _receiveEnd && ActiveStreams == 0)
        {
            // Nothing half-read and no request in flight: wait for the next bytes without holding a buffer,
            // so idle tunnels cost little memory. Busy ones keep it and spare the extra wait per read.
            ReturnReceiveBuffer();
            if (!await _transport.WaitToReceiveAsync(cancellationToken).ConfigureAwait(false))
            {
                throw PeerClosed();
            }
        }

        RentReceiveBuffer();
        if (_receiveStart > 0 && (_receiveBuffer.Length - _receiveEnd < FrameHeader.Size + _local.MaxFramePayload))
        {
            // Move the partial frame to the front so a whole frame always fits.
            Buffer.BlockCopy(_receiveBuffer, _receiveStart, _receiveBuffer, 0, _receiveEnd - _receiveStart);
            _receiveEnd -= _receiveStart;
            _receiveStart = 0;
        }

        var count = await _transport.ReceiveAsync(_receiveBuffer.AsMemory(_receiveEnd), cancellationToken).ConfigureAwait(false);
        if (count == 0)
        {
            throw PeerClosed();
        }

        _receiveEnd += count;
        Volatile.Write(ref _lastReceiveTimestamp, _options.TimeProvider.GetTimestamp());
    }

    private EndOfStreamException PeerClosed() => new(RemoteGoingAway
        ? "the peer closed the tunnel after go-away"
        : "the peer closed the tunnel connection");

    private void RentReceiveBuffer()
    {
        if (_receiveBuffer.Length == 0)
        {
            _receiveBuffer = ArrayPool<byte>.Shared.Rent(_receiveBufferSize);
        }
    }

    /// <summary>Gives the receive buffer back; only when it holds nothing unread, or when the session is done.</summary>
    private void ReturnReceiveBuffer()
    {
        var buffer = _receiveBuffer;
        _receiveBuffer = [];
        _receiveStart = _receiveEnd = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // ---------------------------------------------------------------- reading

    private async Task ReadLoopAsync()
    {
        var transport = _transport;
        var connection = _connection.Token;
        await Task.Yield();
        try
        {
            try
            {
                while (true)
                {
                    var header = await ReceiveFrameAsync(connection).ConfigureAwait(false);
                    var payload = _receiveBuffer.AsSpan(_receiveStart + FrameHeader.Size, header.Length);
                    ProcessFrame(header, payload);
                    _receiveStart += FrameHeader.Size + header.Length;
                    if (_receiveStart == _receiveEnd)
                    {
                        _receiveStart = _receiveEnd = 0;
                    }
                }
            }
            finally
            {
                // What was read goes on as if the connection had lasted, before its end is handled:
                // a resumed session's next read loop must find nothing left here.
                HandOnArrivals();
            }
        }
        catch (Exception ex) when (RemoteGoingAway && ex is not TunnelProtocolException)
        {
            // The peer said goodbye, then its connection ended (cleanly or not): no resume follows.
            // Streams it did not finish end here.
            Terminate(null);
        }
        catch (TunnelProtocolException ex)
        {
            Terminate(ex);
        }
        catch (Exception ex)
        {
            OnConnectionLost(transport, ex);
        }
    }

    /// <summary>
    /// Delivers the response heads and starts the handlers read since the last receive. Both run on
    /// this thread until their first wait — the request waiting for its head writes the response on,
    /// a lone request's handler sends it to the target — sparing a hand-off through the thread pool.
    /// </summary>
    private void HandOnArrivals()
    {
        for (var i = 0; i < _arrivals.Count; i++)
        {
            var (stream, head, handler) = _arrivals[i];
            if (head is not null)
            {
                stream.DeliverResponseHead(head);
            }
            else
            {
                Serve(handler!, stream);
            }
        }

        _arrivals.Clear();
    }

    private void ProcessFrame(FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (header.Type is not (FrameType.Ping or FrameType.Pong or FrameType.Ack or FrameType.Hello))
        {
            CountReceivedFrame();
        }

        switch (header.Type)
        {
            case FrameType.Hello:
                throw new TunnelProtocolException(ErrorCode.ProtocolError, "hello frame after the handshake");
            case FrameType.RequestHead:
                OnRequestHead(header, payload);
                break;
            case FrameType.ResponseHead:
                OnResponseHead(header, payload);
                break;
            case FrameType.Data:
                OnData(header, payload);
                break;
            case FrameType.Trailers:
                OnTrailers(header, payload);
                break;
            case FrameType.Reset:
                OnReset(header, payload);
                break;
            case FrameType.WindowUpdate:
                OnWindowUpdate(header, payload);
                break;
            case FrameType.Ping:
                RequireLength(header, 8);
                EnqueueControl(OutgoingFrame.UInt64(FrameType.Pong, BinaryPrimitives.ReadUInt64BigEndian(payload)));
                break;
            case FrameType.Pong:
                RequireLength(header, 8);
                break;
            case FrameType.Ack:
                OnAck(header, payload);
                break;
            case FrameType.GoAway:
                OnGoAway(GoAwayMessage.Read(payload));
                break;
            case FrameType.Continue:
                OnContinue(header);
                break;
        }
    }

    private void OnContinue(FrameHeader header)
    {
        RequireLength(header, 0);
        if (_role != SessionRole.Gateway || !BothAnnounced(SessionFeatures.ExpectContinue))
        {
            throw new TunnelProtocolException(ErrorCode.ProtocolError, "continue frame the gateway did not agree to");
        }

        TunnelStream? stream;
        lock (_lock)
        {
            stream = FindOpenStreamLocked(header.StreamId);
        }

        stream?.DeliverContinue();
    }

    private void OnGoAway(GoAwayMessage goAway)
    {
        List<TunnelStream> refused = [];
        lock (_lock)
        {
            RemoteGoingAway = true;
            if (_role == SessionRole.Gateway)
            {
                refused.AddRange(_streams.Values.Where(s => s.Id > goAway.LastStreamId));
            }
        }

        // The peer never saw these: they fail as refused, which is safe to retry elsewhere.
        foreach (var stream in refused)
        {
            ResetStream(stream, ErrorCode.RefusedStream, sendFrame: false);
        }
    }

    /// <summary>Counts a sequenced frame; acknowledgements ride on the next batch, or get one of their own every few frames.</summary>
    private void CountReceivedFrame()
    {
        var received = _receivedSequence + 1;
        Volatile.Write(ref _receivedSequence, received);
        if (received - Volatile.Read(ref _lastAckSent) >= AckEveryFrames)
        {
            Wake();
        }
    }

    private void OnRequestHead(FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (_role != SessionRole.Agent)
        {
            throw new TunnelProtocolException(ErrorCode.ProtocolError, "request head sent to the gateway");
        }

        if (header.StreamId <= _lastRemoteStreamId)
        {
            throw new TunnelProtocolException(ErrorCode.ProtocolError, $"stream id {header.StreamId} was already used");
        }

        RequireHeadSize(header);
        _lastRemoteStreamId = header.StreamId;
        RequestHead head;
        try
        {
            head = HeadCodec.ReadRequestHead(payload);
        }
        catch (TunnelProtocolException ex)
        {
            // The frame itself was whole: only this request is bad. Refuse it and keep serving the others.
            RejectStream(header.StreamId, ex.Message);
            return;
        }

        TunnelStream stream;
        bool alone;
        lock (_lock)
        {
            if (_goingAway || _terminated || _streams.Count >= _local.MaxConcurrentStreams)
            {
                _control.Enqueue(OutgoingFrame.UInt32(FrameType.Reset, header.StreamId, (uint)ErrorCode.RefusedStream));
                Wake();
                return;
            }

            stream = new TunnelStream(this, header.StreamId, _remote.InitialStreamWindow, head)
            {
                RequestHasBody = !header.EndStream,
                WaitsForContinue = !header.EndStream && BothAnnounced(SessionFeatures.ExpectContinue) && ExpectContinue.IsRequested(head.Headers),
            };
            _streams.Add(header.StreamId, stream);
            if (header.EndStream)
            {
                stream.RemoteEnded = true;
            }

            alone = AloneLocked();
        }

        if (header.EndStream)
        {
            stream.DeliverEnd(null);
        }

        var handler = _onStream;
        if (handler is null)
        {
            ResetStream(stream, ErrorCode.RefusedStream, sendFrame: true);
            return;
        }

        if (alone)
        {
            _arrivals.Add((stream, null, handler));
        }
        else
        {
            // Among other requests in flight a handler runs on the thread pool, so the read loop goes on serving them.
            ThreadPool.UnsafeQueueUserWorkItem(static state => state.session.Serve(state.handler, state.stream), (session: this, handler, stream), preferLocal: false);
        }
    }

    /// <summary>Starts a handler on its stream; one that throws before its first wait resets the stream, not the process.</summary>
    private void Serve(Func<TunnelStream, Task> handler, TunnelStream stream)
    {
        try
        {
            _ = handler(stream);
        }
        catch (Exception ex)
        {
            // The type only: a message may quote the request's headers.
            _options.OnStreamRejected?.Invoke(stream.Id, $"its handler failed ({ex.GetType().Name})");
            ResetStream(stream, ErrorCode.InternalError, sendFrame: true);
        }
    }

    /// <summary>Resets a stream the peer opened but this end will not serve; its later frames are discarded.</summary>
    private void RejectStream(uint streamId, string reason)
    {
        // Told before the reset leaves, so the log line is there by the time the peer sees the reset.
        _options.OnStreamRejected?.Invoke(streamId, reason);
        lock (_lock)
        {
            if (!_terminated)
            {
                _control.Enqueue(OutgoingFrame.UInt32(FrameType.Reset, streamId, (uint)ErrorCode.ProtocolError));
                Wake();
            }
        }
    }

    private void OnResponseHead(FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (_role != SessionRole.Gateway)
        {
            throw new TunnelProtocolException(ErrorCode.ProtocolError, "response head sent to the agent");
        }

        RequireHeadSize(header);
        var head = HeadCodec.ReadResponseHead(payload);
        TunnelStream? stream;
        lock (_lock)
        {
            stream = FindOpenStreamLocked(header.StreamId);
            if (stream is null)
            {
                return;
            }

            if (stream.ResponseHeadReceived)
            {
                throw new TunnelProtocolException(ErrorCode.ProtocolError, $"second response head on stream {header.StreamId}");
            }

            stream.ResponseHeadReceived = true;
            if (header.EndStream)
            {
                stream.RemoteEnded = true;
            }
        }

        _arrivals.Add((stream, head, null));
        if (header.EndStream)
        {
            stream.DeliverEnd(null);
            RemoveIfDone(stream);
        }
    }

    private void OnData(FrameHeader header, ReadOnlySpan<byte> payload)
    {
        TunnelStream? stream;
        var deliver = false;
        lock (_lock)
        {
            if (_sessionReceiveUsed + header.Length > _local.InitialSessionWindow)
            {
                throw new TunnelProtocolException(ErrorCode.FlowControlError, "peer overran the session window");
            }

            _sessionReceiveUsed += header.Length;
            stream = FindOpenStreamLocked(header.StreamId);
            if (stream is null)
            {
                ReturnSessionCreditLocked(header.Length);
                return;
            }

            if (_role == SessionRole.Gateway && !stream.ResponseHeadReceived)
            {
                throw new TunnelProtocolException(ErrorCode.ProtocolError, $"data before the response head on stream {header.StreamId}");
            }

            stream.ReceiveUsed += header.Length;
            if (stream.ReceiveUsed > _local.InitialStreamWindow)
            {
                throw new TunnelProtocolException(ErrorCode.FlowControlError, $"peer overran the window of stream {header.StreamId}");
            }

            if (stream.ReaderClosed)
            {
                ReturnSessionCreditLocked(header.Length);
            }
            else if (header.Length > 0)
            {
                stream.UnreadBytes += header.Length;
                deliver = true;
            }

            if (header.EndStream)
            {
                stream.RemoteEnded = true;
            }
        }

        if (deliver)
        {
            stream.DeliverData(payload);
        }

        if (header.EndStream)
        {
            stream.DeliverEnd(null);
            RemoveIfDone(stream);
        }
    }

    private void OnTrailers(FrameHeader header, ReadOnlySpan<byte> payload)
    {
        RequireHeadSize(header);
        var trailers = HeadCodec.ReadTrailers(payload);
        TunnelStream? stream;
        lock (_lock)
        {
            stream = FindOpenStreamLocked(header.StreamId);
            if (stream is null)
            {
                return;
            }

            // Without a head the request waiting for it would never learn that its response ended.
            if (_role == SessionRole.Gateway && !stream.ResponseHeadReceived)
            {
                throw new TunnelProtocolException(ErrorCode.ProtocolError, $"trailers before the response head on stream {header.StreamId}");
            }

            stream.RemoteEnded = true;
        }

        stream.DeliverEnd(trailers);
        RemoveIfDone(stream);
    }

    private void OnReset(FrameHeader header, ReadOnlySpan<byte> payload)
    {
        RequireLength(header, 4);
        var code = (ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload);
        TunnelStream? stream;
        lock (_lock)
        {
            _streams.TryGetValue(header.StreamId, out stream);
        }

        if (stream is not null && !(code == ErrorCode.NoError && StopSending(stream)))
        {
            ResetStream(stream, code, sendFrame: false);
        }
    }

    /// <summary>
    /// A reset without error after the peer's half ended asks this end to stop sending: the peer has
    /// answered and needs no more of the body. What it sent stays readable; only this end's half ends.
    /// </summary>
    private bool StopSending(TunnelStream stream)
    {
        lock (_lock)
        {
            if (!stream.RemoteEnded)
            {
                return false;
            }

            if (!stream.LocalEnded)
            {
                _sessionSendWindow += stream.DiscardOutgoing();
                stream.LocalEnded = true;
                stream.StoppedByPeer = true;
                stream.BodyNotWanted();
                WakeCreditWaiterLocked(stream);
            }

            RemoveLocked(stream);
            return true;
        }
    }

    private void OnWindowUpdate(FrameHeader header, ReadOnlySpan<byte> payload)
    {
        RequireLength(header, 4);
        var increment = BinaryPrimitives.ReadUInt32BigEndian(payload);
        if (increment is 0 or > int.MaxValue)
        {
            throw new TunnelProtocolException(ErrorCode.FlowControlError, $"window increment {increment} is invalid");
        }

        lock (_lock)
        {
            if (header.StreamId == 0)
            {
                _sessionSendWindow += increment;
                if (_sessionSendWindow > int.MaxValue)
                {
                    throw new TunnelProtocolException(ErrorCode.FlowControlError, "session window overflow");
                }

                foreach (var waiter in _sessionCreditWaiters)
                {
                    WakeCreditWaiterLocked(waiter);
                }

                _sessionCreditWaiters.Clear();
            }
            else if (_streams.TryGetValue(header.StreamId, out var stream))
            {
                stream.SendWindow += increment;
                if (stream.SendWindow > int.MaxValue)
                {
                    throw new TunnelProtocolException(ErrorCode.FlowControlError, $"window overflow on stream {header.StreamId}");
                }

                WakeCreditWaiterLocked(stream);
            }
        }
    }

    private void OnAck(FrameHeader header, ReadOnlySpan<byte> payload)
    {
        RequireLength(header, 8);
        var acknowledged = BinaryPrimitives.ReadUInt64BigEndian(payload);
        if (acknowledged < Volatile.Read(ref _peerAcknowledged) || acknowledged > Volatile.Read(ref _sentSequence))
        {
            throw new TunnelProtocolException(ErrorCode.ProtocolError, $"acknowledgement {acknowledged} is out of range");
        }

        Volatile.Write(ref _peerAcknowledged, acknowledged);
        lock (_lock)
        {
            while (_replay.TryPeek(out var entry) && entry.Sequence <= acknowledged)
            {
                _replay.Dequeue();
                _replayBytes -= entry.Frame.EncodedSize;
                entry.Frame.ReturnPayload();
            }
        }
    }

    private TunnelStream? FindOpenStreamLocked(uint streamId)
    {
        if (_streams.TryGetValue(streamId, out var stream))
        {
            if (stream.RemoteEnded)
            {
                throw new TunnelProtocolException(ErrorCode.StreamClosed, $"frame on stream {streamId} after its end");
            }

            return stream;
        }

        // Frames may still arrive for a stream this end reset; a stream never opened is a violation.
        var neverOpened = _role == SessionRole.Gateway ? streamId == 0 || streamId >= _nextStreamId : streamId == 0 || streamId > _lastRemoteStreamId;
        if (neverOpened)
        {
            throw new TunnelProtocolException(ErrorCode.ProtocolError, $"frame on idle stream {streamId}");
        }

        return null;
    }

    private void RequireHeadSize(FrameHeader header)
    {
        if (header.Length > _local.MaxHeaderBytes)
        {
            throw new TunnelProtocolException(ErrorCode.HeadersTooLarge, $"{header.Type} of {header.Length} bytes exceeds the limit of {_local.MaxHeaderBytes}");
        }
    }

    private static void RequireLength(FrameHeader header, int length)
    {
        if (header.Length != length)
        {
            throw new TunnelProtocolException(ErrorCode.FrameSizeError, $"{header.Type} frame must carry {length} bytes, not {header.Length}");
        }
    }

    // ---------------------------------------------------------------- streams: opening and sending

    /// <summary>Opens a stream with a request head (gateway side), waiting for a free stream slot.</summary>
    public async ValueTask<TunnelStream> OpenStreamAsync(RequestHead head, bool endStream, CancellationToken cancellationToken)
    {
        if (_role != SessionRole.Gateway || _streamSlots is null)
        {
            throw new InvalidOperationException("only the gateway opens streams");
        }

        var (payload, length) = EncodeHead(HeadCodec.Measure(head), head, static (h, span) => HeadCodec.Write(h, span));
        try
        {
            if (!_streamSlots.Wait(0, CancellationToken.None))
            {
                // All streams the agent allows are busy: wait for one, but not past the session's end.
                using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
                await _streamSlots.WaitAsync(waiting.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            ArrayPool<byte>.Shared.Return(payload);
            throw new TunnelStreamException(ErrorCode.RefusedStream, "the tunnel session ended while the request waited for a free stream");
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(payload);
            throw;
        }

        TunnelStream stream;
        bool alone;
        lock (_lock)
        {
            if (_terminated || _goingAway || RemoteGoingAway || _nextStreamId == uint.MaxValue)
            {
                _streamSlots.Release();
                ArrayPool<byte>.Shared.Return(payload);
                throw new TunnelStreamException(ErrorCode.RefusedStream, "the tunnel session is closing");
            }

            stream = new TunnelStream(this, _nextStreamId++, _remote.InitialStreamWindow, null)
            {
                LocalEnded = endStream,
                HoldsBody = !endStream && BothAnnounced(SessionFeatures.ExpectContinue) && ExpectContinue.IsRequested(head.Headers),
            };
            _streams.Add(stream.Id, stream);
            _control.Enqueue(OutgoingFrame.WithPayload(FrameType.RequestHead, endStream ? FrameFlags.EndStream : FrameFlags.None, stream.Id, payload, length));
            alone = AloneLocked();
            if (!alone)
            {
                Wake();
            }
        }

        if (alone)
        {
            _wake.SetHere();
        }

        return stream;
    }

    internal void SendResponseHead(TunnelStream stream, ResponseHead head, bool endStream, bool flush)
    {
        var (payload, length) = EncodeHead(HeadCodec.Measure(head), head, static (h, span) => HeadCodec.Write(h, span));
        bool alone;
        lock (_lock)
        {
            if (stream.LocalEnded)
            {
                ArrayPool<byte>.Shared.Return(payload);
                throw StreamNotWritable(stream);
            }

            stream.LocalEnded = endStream;
            stream.ResponseHeadSent = true;

            // Through the stream's own queue so data and the end always follow the head.
            stream.Outgoing.Enqueue(OutgoingFrame.WithPayload(FrameType.ResponseHead, endStream ? FrameFlags.EndStream : FrameFlags.None, stream.Id, payload, length));
            alone = (flush || endStream) && AloneLocked();
            ScheduleLocked(stream, wake: (flush || endStream) && !alone);
        }

        if (alone)
        {
            _wake.SetHere();
        }

        RemoveIfDone(stream);
    }

    /// <summary>Asks for the request body, once; after the stream's end or reset there is nobody to ask.</summary>
    internal void SendContinue(TunnelStream stream)
    {
        lock (_lock)
        {
            if (stream.ContinueSent || stream.LocalEnded || _terminated)
            {
                return;
            }

            stream.ContinueSent = true;
            stream.Outgoing.Enqueue(OutgoingFrame.Empty(FrameType.Continue, FrameFlags.None, stream.Id));
            ScheduleLocked(stream);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    internal async ValueTask WriteDataAsync(TunnelStream stream, ReadOnlyMemory<byte> data, bool flush, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            int count;
            WakeSignal? waitForCredit = null;
            lock (_lock)
            {
                if (stream.LocalEnded || _terminated)
                {
                    throw StreamNotWritable(stream);
                }

                var credit = Math.Min(stream.SendWindow, _sessionSendWindow);
                if (credit > 0)
                {
                    count = (int)Math.Min(Math.Min(credit, data.Length), _remote.MaxFramePayload);
                    stream.SendWindow -= count;
                    _sessionSendWindow -= count;
                }
                else
                {
                    count = 0;
                    // One signal per stream for its whole life: waiting for credit allocates nothing.
                    waitForCredit = stream.CreditSignal ??= new WakeSignal();
                    if (_sessionSendWindow <= 0 && !_sessionCreditWaiters.Contains(stream))
                    {
                        _sessionCreditWaiters.Add(stream);
                    }

                    // Held frames must leave before waiting: the peer grants credit only for what it received.
                    Wake();
                }
            }

            if (waitForCredit is not null)
            {
                await waitForCredit.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            var payload = ArrayPool<byte>.Shared.Rent(count);
            data.Span[..count].CopyTo(payload);
            lock (_lock)
            {
                if (stream.LocalEnded || _terminated)
                {
                    ArrayPool<byte>.Shared.Return(payload);
                    _sessionSendWindow += count;
                    throw StreamNotWritable(stream);
                }

                stream.Outgoing.Enqueue(OutgoingFrame.WithPayload(FrameType.Data, FrameFlags.None, stream.Id, payload, count));
                ScheduleLocked(stream, wake: flush);
            }

            data = data[count..];
        }
    }

    internal void CompleteStream(TunnelStream stream, List<KeyValuePair<string, string>>? trailers)
    {
        OutgoingFrame frame;
        if (trailers is { Count: > 0 })
        {
            var (payload, length) = EncodeHead(HeadCodec.MeasureHeaders(trailers), trailers, static (t, span) => HeadCodec.WriteHeaders(t, span));
            frame = OutgoingFrame.WithPayload(FrameType.Trailers, FrameFlags.EndStream, stream.Id, payload, length);
        }
        else
        {
            frame = OutgoingFrame.Empty(FrameType.Data, FrameFlags.EndStream, stream.Id);
        }

        bool alone;
        lock (_lock)
        {
            if (stream.LocalEnded || _terminated)
            {
                frame.ReturnPayload();
                throw StreamNotWritable(stream);
            }

            stream.LocalEnded = true;
            stream.Outgoing.Enqueue(frame);
            if (stream.StopWanted)
            {
                EnqueueStopLocked(stream);
            }

            alone = AloneLocked();
            ScheduleLocked(stream, wake: !alone);
        }

        if (alone)
        {
            _wake.SetHere();
        }

        RemoveIfDone(stream);
    }

    /// <summary>
    /// Asks the peer to stop sending a body this end no longer reads, behind this end's own frames so
    /// that the peer has them all first; the peer's frames still in flight are dropped on arrival.
    /// </summary>
    private void EnqueueStopLocked(TunnelStream stream)
    {
        stream.StopWanted = false;
        stream.RemoteEnded = true;
        stream.Outgoing.Enqueue(OutgoingFrame.UInt32(FrameType.Reset, stream.Id, (uint)ErrorCode.NoError));
        ScheduleLocked(stream);
    }

    internal void ResetStream(TunnelStream stream, ErrorCode code, bool sendFrame)
    {
        lock (_lock)
        {
            if (stream.LocalEnded && stream.RemoteEnded && stream.ReaderClosed)
            {
                return;
            }

            _sessionSendWindow += stream.DiscardOutgoing();
            if (sendFrame && !(stream.LocalEnded && stream.RemoteEnded) && !_terminated)
            {
                _control.Enqueue(OutgoingFrame.UInt32(FrameType.Reset, stream.Id, (uint)code));
                Wake();
            }

            stream.LocalEnded = stream.RemoteEnded = true;
            if (!stream.ReaderClosed)
            {
                stream.ReaderClosed = true;
                ReturnSessionCreditLocked(stream.UnreadBytes);
                stream.UnreadBytes = 0;
            }

            WakeCreditWaiterLocked(stream);
            RemoveLocked(stream);
        }

        stream.Fail(new TunnelStreamException(code, sendFrame ? $"stream reset ({code})" : $"stream reset by the peer ({code})"));
    }

    private static TunnelStreamException StreamNotWritable(TunnelStream stream) => stream.StoppedByPeer
        ? new(ErrorCode.NoError, $"the peer answered stream {stream.Id} without the rest of its body and stopped reading it")
        : new(ErrorCode.StreamClosed, $"stream {stream.Id} is closed for writing");

    private (byte[] Payload, int Length) EncodeHead<T>(int size, T head, SpanWriter<T> write)
    {
        if (size > _remote.MaxHeaderBytes)
        {
            throw new HeadersTooLargeException(size, _remote.MaxHeaderBytes);
        }

        var payload = ArrayPool<byte>.Shared.Rent(size);
        var length = write(head, payload);
        return (payload, length);
    }

    private delegate int SpanWriter<in T>(T value, Span<byte> destination);

    // ---------------------------------------------------------------- flow control bookkeeping

    internal void OnConsumed(TunnelStream stream, int count)
    {
        lock (_lock)
        {
            if (stream.ReaderClosed)
            {
                return;
            }

            stream.UnreadBytes -= count;
            ReturnSessionCreditLocked(count);
            if (!stream.RemoteEnded)
            {
                stream.ReceiveCreditPending += count;
                if (stream.ReceiveCreditPending >= _local.InitialStreamWindow / 4)
                {
                    _control.Enqueue(OutgoingFrame.UInt32(FrameType.WindowUpdate, stream.Id, (uint)stream.ReceiveCreditPending));
                    stream.ReceiveUsed -= stream.ReceiveCreditPending;
                    stream.ReceiveCreditPending = 0;
                    Wake();
                }
            }
        }
    }

    internal void OnReaderClosed(TunnelStream stream)
    {
        lock (_lock)
        {
            if (stream.ReaderClosed)
            {
                return;
            }

            stream.ReaderClosed = true;
            ReturnSessionCreditLocked(stream.UnreadBytes);
            stream.UnreadBytes = 0;
            if (!stream.RemoteEnded && !_terminated && _streams.TryGetValue(stream.Id, out var open) && ReferenceEquals(open, stream))
            {
                // The peer still sends (a request body the target answered without): it must stop, or
                // it would wait for credit forever and the stream would never end.
                if (stream.LocalEnded)
                {
                    EnqueueStopLocked(stream);
                }
                else
                {
                    stream.StopWanted = true;
                }
            }

            if (stream.LocalEnded && stream.RemoteEnded)
            {
                RemoveLocked(stream);
            }
        }
    }

    private void ReturnSessionCreditLocked(int count)
    {
        if (count <= 0 || _terminated)
        {
            return;
        }

        _sessionCreditPending += count;
        if (_sessionCreditPending >= _local.InitialSessionWindow / 4)
        {
            _control.Enqueue(OutgoingFrame.UInt32(FrameType.WindowUpdate, 0, (uint)_sessionCreditPending));
            _sessionReceiveUsed -= _sessionCreditPending;
            _sessionCreditPending = 0;
            Wake();
        }
    }

    // A wake-up nobody waits for yet is kept: the writer's next wait returns at once and it looks at its credit again.
    private static void WakeCreditWaiterLocked(TunnelStream stream) => stream.CreditSignal?.Set();

    private void RemoveIfDone(TunnelStream stream)
    {
        lock (_lock)
        {
            if (stream.LocalEnded && stream.RemoteEnded)
            {
                RemoveLocked(stream);
            }
        }
    }

    private void RemoveLocked(TunnelStream stream)
    {
        if (_streams.Remove(stream.Id))
        {
            _streamSlots?.Release();
        }
    }

    // ---------------------------------------------------------------- writing

    private void EnqueueControl(OutgoingFrame frame)
    {
        lock (_lock)
        {
            if (_terminated)
            {
                frame.ReturnPayload();
                return;
            }

            _control.Enqueue(frame);
            Wake();
        }
    }

    /// <summary>
    /// Puts the stream in line for the writer. Without <paramref name="wake"/> its frames wait for
    /// the next wake-up, whoever causes it: they may leave sooner, never later than the stream's flush.
    /// </summary>
    private void ScheduleLocked(TunnelStream stream, bool wake = true)
    {
        if (!stream.Scheduled)
        {
            stream.Scheduled = true;
            _ready.Enqueue(stream);
        }

        if (wake)
        {
            Wake();
        }
    }

    internal void FlushStream(TunnelStream stream)
    {
        lock (_lock)
        {
            if (stream.Outgoing.Count > 0)
            {
                Wake();
            }
        }
    }

    private void Wake() => _wake.Set();

    /// <summary>
    /// Whether the session carries a single stream: its frames then leave on the thread that queued
    /// them (<see cref="WakeSignal.SetHere"/>), sparing a hand-off through the thread pool each way
    /// per request. With more streams the write loop's own pass gathers theirs into one batch.
    /// </summary>
    private bool AloneLocked() => _streams.Count == 1;

    private async Task WriteLoopAsync()
    {
        var transport = _transport;
        var connection = _connection.Token;
        var frames = new List<(OutgoingFrame Frame, ulong Resent)>();
        var sent = new List<(ulong Sequence, OutgoingFrame Frame)>();
        byte[]? batch = null; // rented per batch: an idle session holds no send buffer
        await Task.Yield();
        try
        {
            Wake(); // frames queued while the connection was being set up
            while (true)
            {
                // One pass below serves every wake-up so far.
                await _wake.WaitAsync(connection).ConfigureAwait(false);
                while (TakeBatch(frames, out var size))
                {
                    batch = ArrayPool<byte>.Shared.Rent(size);

                    var position = 0;
                    foreach (var (frame, resent) in frames)
                    {
                        position += frame.Encode(batch.AsSpan(position));
                        if (resent != 0)
                        {
                            continue; // still held in the replay queue
                        }

                        if (frame.IsSequenced)
                        {
                            var sequence = _sentSequence + 1;
                            Volatile.Write(ref _sentSequence, sequence);
                            sent.Add((sequence, frame));
                        }
                        else
                        {
                            frame.ReturnPayload();
                        }
                    }

                    frames.Clear();
                    KeepForReplay(sent);
                    await transport.SendAsync(batch.AsMemory(0, position), connection).ConfigureAwait(false);
                    ArrayPool<byte>.Shared.Return(batch);
                    batch = null;
                }

                if (Volatile.Read(ref _closeRequested))
                {
                    await transport.CloseAsync(connection).ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            OnConnectionLost(transport, ex);
        }
        finally
        {
            if (batch is not null)
            {
                ArrayPool<byte>.Shared.Return(batch);
            }
        }
    }

    /// <summary>Sent sequenced frames wait for their acknowledgement while the session can resume; otherwise their buffers go back at once.</summary>
    private void KeepForReplay(List<(ulong Sequence, OutgoingFrame Frame)> sent)
    {
        lock (_lock)
        {
            foreach (var entry in sent)
            {
                if (_resumable && !_terminated)
                {
                    _replay.Enqueue(entry);
                    _replayBytes += entry.Frame.EncodedSize;
                }
                else
                {
                    entry.Frame.ReturnPayload();
                }
            }

            sent.Clear();
            if (_replayBytes > _options.MaxReplayBytes)
            {
                // The peer stopped acknowledging: resuming would need more memory than allowed.
                _resumable = false;
                ReleaseReplayLocked();
            }
        }
    }

    private void ReleaseReplayLocked()
    {
        _resend.Clear();
        while (_replay.TryDequeue(out var entry))
        {
            entry.Frame.ReturnPayload();
        }

        _replayBytes = 0;
    }

    /// <summary>
    /// What to send next: frames a resumed connection must repeat, an acknowledgement when one is
    /// due, control frames, then one data frame per ready stream in turn, up to a batch's worth.
    /// </summary>
    private bool TakeBatch(List<(OutgoingFrame Frame, ulong Resent)> frames, out int size)
    {
        size = 0;
        lock (_lock)
        {
            if (_detached || _terminated)
            {
                return false;
            }

            while (size < MaxBatchBytes && _resend.TryDequeue(out var repeat))
            {
                frames.Add((repeat.Frame, repeat.Sequence));
                size += repeat.Frame.EncodedSize;
            }

            var received = Volatile.Read(ref _receivedSequence);
            if (received > _lastAckSent)
            {
                Volatile.Write(ref _lastAckSent, received);
                var ack = OutgoingFrame.UInt64(FrameType.Ack, received);
                frames.Add((ack, 0));
                size += ack.EncodedSize;
            }

            while (size < MaxBatchBytes && _control.TryDequeue(out var frame))
            {
                frames.Add((frame, 0));
                size += frame.EncodedSize;
            }

            while (size < MaxBatchBytes && _ready.TryDequeue(out var stream))
            {
                if (!stream.Outgoing.TryDequeue(out var frame))
                {
                    stream.Scheduled = false;
                    continue;
                }

                frames.Add((frame, 0));
                size += frame.EncodedSize;
                if (stream.Outgoing.Count > 0)
                {
                    _ready.Enqueue(stream);
                }
                else
                {
                    stream.Scheduled = false;
                }
            }
        }

        return frames.Count > 0;
    }

    // ---------------------------------------------------------------- connection loss and resume

    /// <summary>
    /// The connection under the session failed. A resumable session detaches and waits for the agent
    /// to come back within the resume window; its streams wait with it. Anything else ends the session.
    /// </summary>
    private void OnConnectionLost(ITunnelTransport transport, Exception error)
    {
        int detachment;
        bool closing;
        CancellationTokenSource connection;
        TaskCompletionSource attachment;
        lock (_lock)
        {
            if (_terminated || _detached || !ReferenceEquals(transport, _transport))
            {
                return; // already handled, or a loop of an earlier connection
            }

            closing = _closeRequested;
            if (!_resumable || closing)
            {
                detachment = 0;
                connection = null!;
                attachment = null!;
            }
            else
            {
                _detached = true;
                detachment = ++_detachments;
                DetachReason = error;
                connection = _connection;
                attachment = _attachmentEnded;
            }
        }

        if (detachment == 0)
        {
            // Once this end has drained its streams and asked to close, a peer that drops the connection
            // without finishing the close handshake (as a server may on reading the close) ends nothing
            // that was not already ending: the close, not a failure.
            Terminate(closing ? null : error);
            return;
        }

        // Stop the loops and the connection first, then tell whoever waits on this attachment.
        CancelQuietly(connection);
        transport.Abort();
        attachment.TrySetResult();
        _ = ExpireDetachmentAsync(detachment, error);
    }

    /// <summary>
    /// The agent asks to resume on a new connection while this end still believes in the old one
    /// (its keep-alive has not noticed yet): the agent knows best, so the old connection is dropped.
    /// </summary>
    public bool PrepareResume()
    {
        ITunnelTransport transport;
        lock (_lock)
        {
            if (_terminated)
            {
                return false;
            }

            if (_detached)
            {
                return true;
            }

            transport = _transport;
        }

        OnConnectionLost(transport, new IOException("the agent resumed the session on a new connection"));
        return IsDetached;
    }

    private static void CancelQuietly(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (AggregateException)
        {
            // A transport's cancellation callback failed on a connection that is gone anyway.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Why the last connection was lost, while the session waits to resume.</summary>
    public Exception? DetachReason { get; private set; }

    private async Task ExpireDetachmentAsync(int detachment, Exception error)
    {
        try
        {
            await Task.Delay(_options.ResumeWindow, _options.TimeProvider, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        lock (_lock)
        {
            if (!_detached || _detachments != detachment || _terminated)
            {
                return;
            }
        }

        Terminate(new IOException($"the connection was lost ({error.Message}) and not resumed within {_options.ResumeWindow.TotalSeconds:0.#} s", error));
    }

    /// <summary>
    /// Continues this detached session on <paramref name="transport"/>: drops what the peer already
    /// has, repeats the rest in order, then carries on. <paramref name="beforeLoops"/> runs once the
    /// session owns the connection and before any frame goes out (the gateway's hello).
    /// </summary>
    private async Task<bool> ReattachAsync(ITunnelTransport transport, ulong peerReceived, byte[] leftover, Func<Task>? beforeLoops)
    {
        Task read;
        Task write;
        lock (_lock)
        {
            if (_terminated || !_detached)
            {
                return false;
            }

            read = _readLoop;
            write = _writeLoop;
        }

        // The loops of the lost connection must be done with the buffers before they are reused.
        await write.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await read.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        ITunnelTransport lost;
        lock (_lock)
        {
            if (_terminated || !_detached)
            {
                return false;
            }

            while (_replay.TryPeek(out var entry) && entry.Sequence <= peerReceived)
            {
                _replay.Dequeue();
                _replayBytes -= entry.Frame.EncodedSize;
                entry.Frame.ReturnPayload();
            }

            var next = _replay.TryPeek(out var first) ? first.Sequence : _sentSequence + 1;
            if (!_resumable || peerReceived + 1 != next || leftover.Length > _receiveBufferSize)
            {
                lost = _transport;
                _resumable = false;
            }
            else
            {
                _resend.Clear();
                foreach (var entry in _replay)
                {
                    _resend.Enqueue(entry);
                }

                if (peerReceived > _peerAcknowledged)
                {
                    Volatile.Write(ref _peerAcknowledged, peerReceived);
                }

                lost = _transport;
                _transport = transport;
                _connection = new CancellationTokenSource();
                _attachmentEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                ReturnReceiveBuffer();
                if (leftover.Length > 0)
                {
                    RentReceiveBuffer();
                    leftover.CopyTo(_receiveBuffer, 0);
                    _receiveEnd = leftover.Length;
                }
                Volatile.Write(ref _lastReceiveTimestamp, _options.TimeProvider.GetTimestamp());
                Volatile.Write(ref _lastAckSent, 0); // the first batch tells the peer where this end stands
                _detached = false;
                DetachReason = null;
                Resumptions++;
            }
        }

        await lost.DisposeAsync().ConfigureAwait(false);
        if (!ReferenceEquals(_transport, transport))
        {
            Terminate(new IOException("the session could not resume: the peer's position does not match what this end kept"));
            return false;
        }

        if (beforeLoops is not null)
        {
            try
            {
                await beforeLoops().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                OnConnectionLost(transport, ex);
                throw;
            }
        }

        StartLoops();
        return true;
    }

    // ---------------------------------------------------------------- liveness and shutdown

    // The session joins the shared schedule of its clock and interval, whose one timer checks a slot
    // of sessions per tick (the check never waits on anything). A timer per session would cost a
    // thread-pool callback per idle session and interval; a Task.Delay per tick would also leave a
    // timer, promise and registration each interval for the GC to promote and trace.
    private void StartKeepAlive()
    {
        var schedule = KeepAliveSchedule.For(_options.TimeProvider, _options.KeepAliveInterval);
        _keepAlive = schedule;
        schedule.Add(this);
    }

    private void StopKeepAlive() => Interlocked.Exchange(ref _keepAlive, null)?.Remove(this);

    /// <summary>The schedule's tick for this session: pings the peer, or gives it up, when it has been silent too long.</summary>
    internal void CheckKeepAlive(KeepAliveSchedule schedule)
    {
        try
        {
            CheckLiveness(schedule);
        }
#pragma warning disable CA1031 // The schedule's timer must not throw: that would end the process, not the session.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Terminate(ex);
        }
    }

    private void CheckLiveness(KeepAliveSchedule schedule)
    {
        var time = _options.TimeProvider;
        ITunnelTransport transport;
        lock (_lock)
        {
            if (_terminated)
            {
                schedule.Remove(this); // the session ended before it joined the schedule
                return;
            }

            if (_detached)
            {
                return; // nothing to probe until the agent resumes the session
            }

            transport = _transport;
        }

        var silence = time.GetElapsedTime(Volatile.Read(ref _lastReceiveTimestamp));
        if (_options.KeepAliveTimeout != Timeout.InfiniteTimeSpan && silence >= _options.KeepAliveTimeout)
        {
            OnConnectionLost(transport, new TimeoutException($"no frame from the peer for {silence.TotalSeconds:0.#} s (keep-alive timeout)"));
        }
        else if (silence >= _options.KeepAliveInterval)
        {
            EnqueueControl(OutgoingFrame.UInt64(FrameType.Ping, (ulong)time.GetTimestamp()));
        }
        else if (Volatile.Read(ref _receivedSequence) > Volatile.Read(ref _lastAckSent))
        {
            Wake(); // an acknowledgement is due even if nothing else is
        }
    }

    /// <summary>Tells the peer no new streams will be opened or accepted; streams in flight go on.</summary>
    public void GoAway(ErrorCode code, string reason)
    {
        var message = new GoAwayMessage(_role == SessionRole.Gateway ? _nextStreamId - 1 : _lastRemoteStreamId, code, reason);
        var payload = ArrayPool<byte>.Shared.Rent(message.Measure());
        var length = message.Write(payload);
        lock (_lock)
        {
            if (_goingAway || _terminated)
            {
                ArrayPool<byte>.Shared.Return(payload);
                return;
            }

            _goingAway = true;
            _control.Enqueue(OutgoingFrame.WithPayload(FrameType.GoAway, FrameFlags.None, 0, payload, length));
            Wake();
        }
    }

    /// <summary>
    /// Closes in order: go-away, then waits up to <paramref name="drainTimeout"/> for streams in flight,
    /// flushes what is queued and closes the transport. Streams still open after that are reset.
    /// </summary>
    public async Task CloseAsync(TimeSpan drainTimeout, CancellationToken cancellationToken = default)
    {
        GoAway(ErrorCode.Shutdown, "closing");
        var deadline = _options.TimeProvider.GetTimestamp();
        while (ActiveStreams > 0 && !_completion.Task.IsCompleted && _options.TimeProvider.GetElapsedTime(deadline) < drainTimeout)
        {
            await Task.WhenAny(_completion.Task, Task.Delay(TimeSpan.FromMilliseconds(50), _options.TimeProvider, cancellationToken)).ConfigureAwait(false);
        }

        Volatile.Write(ref _closeRequested, true);
        Wake();
        using var flushTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), _options.TimeProvider);
        await Task.WhenAny(_writeLoop, Task.Delay(Timeout.Infinite, flushTimeout.Token)).ConfigureAwait(false);
        Terminate(null);
    }

    /// <summary>Ends the session at once: every open stream fails, the transport is aborted.</summary>
    public void Abort(Exception reason) => Terminate(reason);

    private void Terminate(Exception? error)
    {
        TunnelStream[] streams;
        lock (_lock)
        {
            if (_terminated)
            {
                return;
            }

            _terminated = true;
            Failure = error;
            streams = [.. _streams.Values];
            _streams.Clear();
            foreach (var stream in streams)
            {
                stream.LocalEnded = stream.RemoteEnded = true;
                stream.ReaderClosed = true;
                stream.DiscardOutgoing();
                WakeCreditWaiterLocked(stream);
            }

            while (_control.TryDequeue(out var frame))
            {
                frame.ReturnPayload();
            }

            while (_ready.TryDequeue(out var stream))
            {
                stream.DiscardOutgoing();
            }

            ReleaseReplayLocked();
        }

        StopKeepAlive();
        CancelQuietly(_stopping);
        CancelQuietly(_connection);
        if (error is not null || IsDetachedTransport())
        {
            _transport.Abort();
        }

        _attachmentEnded.TrySetResult();

        var streamError = new TunnelStreamException(
            error is TunnelProtocolException protocol ? protocol.Code : ErrorCode.Cancel,
            error is null ? "the tunnel session closed" : $"the tunnel session was lost: {error.Message}",
            error);
        foreach (var stream in streams)
        {
            stream.Fail(streamError);
        }

        _ = ReleaseResourcesAsync();
    }

    private bool IsDetachedTransport()
    {
        lock (_lock)
        {
            return _detached;
        }
    }

    private async Task ReleaseResourcesAsync()
    {
        // Both loops must be done with the transport and the receive buffer before they are released.
        await _writeLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _readLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _transport.DisposeAsync().ConfigureAwait(false);
        ReturnReceiveBuffer();
        _completion.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        Terminate(null);
        await _completion.Task.ConfigureAwait(false);
    }
}
