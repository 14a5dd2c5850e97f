using BenchmarkDotNet.Attributes;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;

namespace WStunnel.Bench.Micro;

/// <summary>
/// A gateway session and an agent session over in-memory pipes: the cost of the protocol itself
/// (framing, flow control, scheduling) per request and per byte, without sockets or TLS.
/// </summary>
[MemoryDiagnoser]
public class SessionBenchmarks
{
    private const int BulkBytes = 16 * 1024 * 1024;
    private static readonly ReadOnlyMemory<byte> Chunk = new byte[64 * 1024];
    private static readonly RequestHead Get = new() { Method = "GET", PathAndQuery = "/small" };
    private static readonly RequestHead Bulk = new() { Method = "GET", PathAndQuery = "/bulk" };

    private readonly byte[] _readBuffer = new byte[64 * 1024];
    private TunnelSession _gateway = null!;
    private TunnelSession _agent = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        var (gatewayEnd, agentEnd) = PipeTransport.CreatePair();
        var gateway = TunnelSession.StartAsync(gatewayEnd, new TunnelSessionOptions(), SessionRole.Gateway, null, CancellationToken.None);
        _agent = await TunnelSession.StartAsync(agentEnd, new TunnelSessionOptions(), SessionRole.Agent, AnswerAsync, CancellationToken.None).ConfigureAwait(false);
        _gateway = await gateway.ConfigureAwait(false);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _gateway.DisposeAsync().ConfigureAwait(false);
        await _agent.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>One small request and its small response through both sessions.</summary>
    [Benchmark]
    public async Task<int> RequestAndResponse()
    {
        var stream = await _gateway.OpenStreamAsync(Get, endStream: true, CancellationToken.None).ConfigureAwait(false);
        var head = await stream.ResponseHead.ConfigureAwait(false);
        while (await stream.ReadAsync(_readBuffer, CancellationToken.None).ConfigureAwait(false) > 0)
        {
        }

        stream.CloseRead();
        return head.StatusCode;
    }

    /// <summary>16 MiB of response body through one stream (bytes per second = 16 MiB / the mean).</summary>
    [Benchmark]
    public async Task<long> SixteenMegabytesDownstream()
    {
        var stream = await _gateway.OpenStreamAsync(Bulk, endStream: true, CancellationToken.None).ConfigureAwait(false);
        await stream.ResponseHead.ConfigureAwait(false);
        long total = 0;
        int read;
        while ((read = await stream.ReadAsync(_readBuffer, CancellationToken.None).ConfigureAwait(false)) > 0)
        {
            total += read;
        }

        stream.CloseRead();
        return total;
    }

    private static async Task AnswerAsync(TunnelStream stream)
    {
        if (stream.RequestHead!.PathAndQuery == "/small")
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            await stream.WriteAsync("Hello, tunnel!"u8.ToArray(), CancellationToken.None).ConfigureAwait(false);
            stream.Complete();
            return;
        }

        stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
        for (var sent = 0; sent < BulkBytes; sent += Chunk.Length)
        {
            await stream.WriteAsync(Chunk, CancellationToken.None).ConfigureAwait(false);
        }

        stream.Complete();
    }
}
