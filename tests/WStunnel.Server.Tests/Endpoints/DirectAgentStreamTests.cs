using WStunnel.Server.Endpoints;

namespace WStunnel.Server.Tests.Endpoints;

public sealed class DirectAgentStreamTests
{
    [Fact]
    public async Task ReadAsync_BytesKestrelAlreadyRead_ComeFirstThenTheTlsStream()
    {
        await using var pair = await TlsPair.ConnectAsync();
        await pair.Client.WriteAsync("tls"u8.ToArray());
        await pair.Client.FlushAsync();
        var stream = new DirectAgentStream("unread"u8.ToArray(), pair.Server);

        var buffer = new byte[4];
        Assert.Equal(0, await stream.ReadAsync(Memory<byte>.Empty)); // a zero-byte read does not wait while bytes are buffered
        Assert.Equal(4, await stream.ReadAsync(buffer));
        Assert.Equal("unre"u8.ToArray(), buffer);
        Assert.Equal(2, await stream.ReadAsync(buffer));
        Assert.Equal("ad"u8.ToArray(), buffer[..2]);
        Assert.Equal(3, await stream.ReadAsync(buffer));
        Assert.Equal("tls"u8.ToArray(), buffer[..3]);
    }

    [Fact]
    public async Task WriteAsync_GoesIntoTheTlsStream()
    {
        await using var pair = await TlsPair.ConnectAsync();
        var stream = new DirectAgentStream([], pair.Server);

        await stream.WriteAsync("frame"u8.ToArray());
        await stream.FlushAsync();

        var buffer = new byte[5];
        await pair.Client.ReadExactlyAsync(buffer);
        Assert.Equal("frame"u8.ToArray(), buffer);
    }
}
