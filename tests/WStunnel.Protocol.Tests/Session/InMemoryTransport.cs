using System.Threading.Channels;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Transports;

namespace WStunnel.Protocol.Tests.Session;

/// <summary>One end of an in-memory duplex link; batches keep their order, like a WebSocket.</summary>
internal sealed class InMemoryTransport : ITunnelTransport
{
    private readonly Channel<byte[]> _inbound;
    private readonly Channel<byte[]> _outbound;
    private byte[]? _current;
    private int _offset;

    private InMemoryTransport(Channel<byte[]> inbound, Channel<byte[]> outbound)
    {
        _inbound = inbound;
        _outbound = outbound;
    }

    public string Name => "memory";

    /// <summary>Every batch this end sent, in order; tests inspect or tamper with the stream of bytes.</summary>
    public List<byte[]> Sent { get; } = [];

    // The managed thread that sent each batch in Sent.
    private readonly List<int> _sentOn = [];

    /// <summary>The frame headers of every batch this end sent, batch by batch.</summary>
    public List<List<FrameHeader>> SentFrames()
    {
        lock (Sent)
        {
            return Sent.Select(FramesOf).ToList();
        }
    }

    /// <summary>The managed thread id that sent the first batch matching <paramref name="match"/>.</summary>
    public int SentOn(Func<List<FrameHeader>, bool> match)
    {
        lock (Sent)
        {
            var index = Sent.FindIndex(batch => match(FramesOf(batch)));
            Assert.True(index >= 0, "no such batch was sent");
            return _sentOn[index];
        }
    }

    private static List<FrameHeader> FramesOf(byte[] batch)
    {
        var frames = new List<FrameHeader>();
        for (var offset = 0; offset < batch.Length;)
        {
            var header = FrameHeader.Read(batch.AsSpan(offset), SessionLimits.MaxFramePayloadCeiling);
            frames.Add(header);
            offset += FrameHeader.Size + header.Length;
        }

        return frames;
    }

    public static (InMemoryTransport Gateway, InMemoryTransport Agent) CreatePair()
    {
        var a = Channel.CreateUnbounded<byte[]>();
        var b = Channel.CreateUnbounded<byte[]>();
        return (new InMemoryTransport(a, b), new InMemoryTransport(b, a));
    }

    public ValueTask SendAsync(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken)
    {
        var copy = batch.ToArray();
        lock (Sent)
        {
            Sent.Add(copy);
            _sentOn.Add(Environment.CurrentManagedThreadId);
        }

        if (!_outbound.Writer.TryWrite(copy))
        {
            throw new IOException("transport closed");
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Injects raw bytes as if the peer had sent them.</summary>
    public void InjectFromPeer(byte[] bytes) => _inbound.Writer.TryWrite(bytes);

    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_current is null || _offset == _current.Length)
        {
            if (!await _inbound.Reader.WaitToReadAsync(cancellationToken))
            {
                return 0;
            }

            _current = await _inbound.Reader.ReadAsync(cancellationToken);
            _offset = 0;
        }

        var count = Math.Min(buffer.Length, _current.Length - _offset);
        _current.AsSpan(_offset, count).CopyTo(buffer.Span);
        _offset += count;
        return count;
    }

    public Task CloseAsync(CancellationToken cancellationToken)
    {
        _outbound.Writer.TryComplete();
        return Task.CompletedTask;
    }

    public void Abort()
    {
        _outbound.Writer.TryComplete(new IOException("aborted"));
        _inbound.Writer.TryComplete(new IOException("aborted"));
    }

    public ValueTask DisposeAsync()
    {
        Abort();
        return ValueTask.CompletedTask;
    }
}
