using WStunnel.Protocol.Http;

namespace WStunnel.Protocol.Tests.Http;

public sealed class HttpUpgradeTests
{
    [Theory]
    [InlineData("Upgrade", "websocket", "websocket")]
    [InlineData("keep-alive, Upgrade", "websocket", "websocket")]
    [InlineData("upgrade", "SPDY/3.1", "SPDY/3.1")]
    [InlineData("keep-alive", "websocket", null)] // Upgrade not named in Connection: not a request to upgrade
    [InlineData("Upgrade", "h2c, websocket", null)] // more than one protocol: the tunnel carries one
    [InlineData("Upgrade", "web socket", null)]
    [InlineData("Upgrade", "a/b/c", null)]
    public void Requested_is_the_one_protocol_an_upgrade_asks_for(string connection, string upgrade, string? expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://localhost/");
        request.Headers.TryAddWithoutValidation("Connection", connection);
        request.Headers.TryAddWithoutValidation("Upgrade", upgrade);

        Assert.Equal(expected, HttpUpgrade.Requested(request.Headers));
    }

    [Fact]
    public void Requested_is_null_without_an_Upgrade_header()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://localhost/");
        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");

        Assert.Null(HttpUpgrade.Requested(request.Headers));
    }

    [Fact]
    public void Apply_then_Requested_gives_the_protocol_back()
    {
        using var response = new HttpResponseMessage();
        HttpUpgrade.Apply(response.Headers, "websocket");

        Assert.Equal("websocket", HttpUpgrade.Requested(response.Headers));
        Assert.Equal("websocket", HttpUpgrade.Of([new("upgrade", "websocket")]));
        Assert.Null(HttpUpgrade.Of([new("Connection", "Upgrade")]));
    }
}
