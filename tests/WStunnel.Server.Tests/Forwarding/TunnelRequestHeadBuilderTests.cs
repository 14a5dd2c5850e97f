using WStunnel.Server.Forwarding;

namespace WStunnel.Server.Tests.Forwarding;

public sealed class TunnelRequestHeadBuilderTests
{
    [Theory]
    [InlineData("wstunnel://build-agent/a%2Fb/c?x=%26&y", "/a%2Fb/c?x=%26&y")]
    [InlineData("wstunnel://build-agent", "/")]
    [InlineData("wstunnel://build-agent?q=1", "/?q=1")]
    [InlineData("wstunnel://build-agent/", "/")]
    public void The_path_and_query_are_taken_as_YARP_composed_them(string uri, string expected) =>
        Assert.Equal(expected, TunnelRequestHeadBuilder.PathAndQuery(new Uri(uri)));

    [Fact]
    public void Hop_by_hop_headers_stay_behind_and_the_rest_keep_every_value()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "wstunnel://t/x") { Content = new StringContent("body") };
        request.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
        request.Headers.TryAddWithoutValidation("Transfer-Encoding", "chunked");
        request.Headers.TryAddWithoutValidation("X-Multi", ["a", "b"]);
        request.Headers.Host = "public.example.com";

        var head = TunnelRequestHeadBuilder.Build(request, "X-Host");

        Assert.Equal("POST", head.Method);
        Assert.Equal("public.example.com", head.Authority);
        Assert.DoesNotContain(head.Headers, h => h.Key is "Keep-Alive" or "Transfer-Encoding" or "Host");
        Assert.Equal(["a", "b"], head.Headers.Where(h => h.Key == "X-Multi").Select(h => h.Value));
        Assert.Contains(head.Headers, h => h.Key == "Content-Type");
    }
}
