using BenchmarkDotNet.Attributes;
using WStunnel.Protocol.Frames;

namespace WStunnel.Bench.Micro;

/// <summary>Encoding and decoding frame headers and request heads: per call time and allocations.</summary>
[MemoryDiagnoser]
public class FrameCodecBenchmarks
{
    private readonly byte[] _frame = new byte[FrameHeader.Size];
    private readonly byte[] _head = new byte[4096];
    private RequestHead _request = null!;
    private int _headLength;

    [GlobalSetup]
    public void Setup()
    {
        _request = new RequestHead
        {
            Method = "GET",
            Authority = "api.example.com",
            PathAndQuery = "/v1/orders/12345?expand=items&currency=EUR",
            Headers =
            [
                new("accept", "application/json"),
                new("accept-encoding", "gzip, br"),
                new("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"),
                new("x-forwarded-for", "203.0.113.7"),
                new("x-forwarded-proto", "https"),
                new("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                new("cookie", "session=abcdef0123456789; theme=dark"),
            ],
        };
        new FrameHeader(FrameType.Data, FrameFlags.None, 7, 65536).Write(_frame);
        _headLength = HeadCodec.Write(_request, _head);
    }

    [Benchmark]
    public int FrameHeaderWriteAndRead()
    {
        new FrameHeader(FrameType.Data, FrameFlags.EndStream, 42, 1234).Write(_frame);
        return FrameHeader.Read(_frame, 65536).Length;
    }

    [Benchmark]
    public int RequestHeadWrite() => HeadCodec.Write(_request, _head);

    [Benchmark]
    public int RequestHeadRead() => HeadCodec.ReadRequestHead(_head.AsSpan(0, _headLength)).Headers.Count;
}
