namespace WStunnel.Protocol.Session;

/// <summary>A head or trailers block is larger than the peer accepts.</summary>
internal sealed class HeadersTooLargeException(int size, int limit)
    : Exception($"headers of {size} bytes exceed the tunnel's limit of {limit} bytes")
{
    public int Size { get; } = size;

    public int Limit { get; } = limit;
}
