using System.Net.Http.Headers;
using WStunnel.Protocol.Http;

namespace WStunnel.Protocol.Tests.Http;

public sealed class TunnelHeadersTests
{
    [Fact]
    public void Collect_keeps_every_value_and_drops_connection_specific_headers()
    {
        using var request = new HttpRequestMessage { Content = new ByteArrayContent([]) };
        request.Headers.TryAddWithoutValidation("Connection", "X-Private, keep-alive");
        request.Headers.TryAddWithoutValidation("X-Private", "hop only");
        request.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        request.Headers.TryAddWithoutValidation("X-Multi", ["1", "2"]);
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "text/plain");

        var headers = TunnelHeaders.Collect(request.Headers, request.Content.Headers);

        Assert.Equal(
            [new("X-Multi", "1"), new("X-Multi", "2"), new("Content-Type", "text/plain")],
            headers);
    }

    [Fact]
    public void CopyTo_puts_content_headers_on_the_content_and_honours_Connection()
    {
        using var response = new HttpResponseMessage();
        List<KeyValuePair<string, string>> headers =
        [
            new("Connection", "X-Private"), new("X-Private", "hop only"), new("Transfer-Encoding", "chunked"),
            new("Set-Cookie", "a=1"), new("Set-Cookie", "b=2"), new("Content-Length", "12"),
        ];

        response.Content = new ByteArrayContent([]);
        TunnelHeaders.CopyTo(headers, response.Headers, response.Content, static content => content.Headers);

        Assert.Equal(["a=1", "b=2"], response.Headers.GetValues("Set-Cookie"));
        Assert.False(response.Headers.Contains("X-Private"));
        Assert.False(response.Headers.Contains("Connection"));
        Assert.False(response.Headers.Contains("Transfer-Encoding"));
        Assert.Equal(12, response.Content.Headers.ContentLength);
    }
}
