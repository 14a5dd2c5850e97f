using WStunnel.Protocol.Frames;

namespace WStunnel.Protocol.Tests.Frames;

public sealed class KnownStringsTests
{
    [Fact]
    public void Well_known_methods_and_header_names_decode_to_one_shared_instance_each()
    {
        var first = Decode(new RequestHead { Method = "POST", PathAndQuery = "/", Headers = [new("Content-Type", "text/plain"), new("accept", "*/*")] });
        var second = Decode(new RequestHead { Method = "POST", PathAndQuery = "/", Headers = [new("Content-Type", "text/html"), new("accept", "*/*")] });

        Assert.Same(first.Method, second.Method);
        Assert.Same(first.Headers[0].Key, second.Headers[0].Key);
        Assert.Same(first.Headers[1].Key, second.Headers[1].Key);
        Assert.Equal("Content-Type", first.Headers[0].Key);
        Assert.NotSame(first.Headers[1].Value, second.Headers[1].Value); // values are the request's own
    }

    [Theory]
    [InlineData("X-Custom-Header")]
    [InlineData("CONTENT-TYPE")]
    [InlineData("Content-Type-")]
    public void Other_names_decode_as_they_came(string name)
    {
        var first = Decode(new RequestHead { Method = "PROPFIND", PathAndQuery = "/", Headers = [new(name, "v")] });
        var second = Decode(new RequestHead { Method = "PROPFIND", PathAndQuery = "/", Headers = [new(name, "v")] });

        Assert.Equal(name, first.Headers[0].Key);
        Assert.NotSame(first.Headers[0].Key, second.Headers[0].Key);
        Assert.NotSame(first.Method, second.Method);
    }

    private static RequestHead Decode(RequestHead head)
    {
        var buffer = new byte[HeadCodec.Measure(head)];
        HeadCodec.Write(head, buffer);
        return HeadCodec.ReadRequestHead(buffer);
    }
}
