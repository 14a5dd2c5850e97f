using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using WStunnel.Protocol.Transports;

namespace WStunnel.Bench.Micro;

/// <summary>Two session ends joined by in-memory pipes: the session's own cost, without sockets or TLS.</summary>
internal sealed class PipeTransport(PipeReader input, PipeWriter output) : ITunnelTransport
{
    public string Name => "pipe";

    public static (PipeTransport Gateway, PipeTransport Agent) CreatePair()
    {
        var toAgent = new Pipe(new PipeOptions(pauseWriterThreshold: 0, minimumSegmentSize: 64 * 1024));
        var toGateway = new Pipe(new PipeOptions(pauseWriterThreshold: 0, minimumSegmentSize: 64 * 1024));
        return (new PipeTransport(toGateway.Reader, toAgent.Writer), new PipeTransport(toAgent.Reader, toGateway.Writer));
    }

    // Pooled like the real transports' hot paths, so the benchmarks count the session's allocations, not this harness's.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendAsync(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken) =>
        await output.WriteAsync(batch, cancellationToken).ConfigureAwait(false);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
        var available = result.Buffer;
        if (available.IsEmpty && result.IsCompleted)
        {
            return 0;
        }

        var count = (int)Math.Min(buffer.Length, available.Length);
        available.Slice(0, count).CopyTo(buffer.Span);
        input.AdvanceTo(available.GetPosition(count));
        return count;
    }

    public Task CloseAsync(CancellationToken cancellationToken) => output.CompleteAsync().AsTask();

    public void Abort()
    {
        output.Complete();
        input.Complete();
    }

    public ValueTask DisposeAsync()
    {
        Abort();
        return ValueTask.CompletedTask;
    }
}
