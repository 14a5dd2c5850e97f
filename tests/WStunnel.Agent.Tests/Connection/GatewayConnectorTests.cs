using System.Net;
using WStunnel.Agent.Connection;

namespace WStunnel.Agent.Tests.Connection;

public sealed class GatewayConnectorTests
{
    [Theory]
    [InlineData("wss://gw.example.com", "wss://gw.example.com/_tunnel")]
    [InlineData("wss://gw.example.com/", "wss://gw.example.com/_tunnel")]
    [InlineData("https://gw.example.com:8443", "wss://gw.example.com:8443/_tunnel")]
    [InlineData("wss://gw.example.com/custom/path", "wss://gw.example.com/custom/path")]
    public void The_registration_url_defaults_its_path_and_scheme(string server, string expected) =>
        Assert.Equal(new Uri(expected), GatewayConnector.TunnelEndpoint(new Uri(server)));

    [Theory]
    [InlineData("wss://gw.example.com", "https://gw.example.com/_tunnel")]
    [InlineData("https://gw.example.com:8443/custom", "https://gw.example.com:8443/custom")]
    [InlineData("ws://gw.example.com", "http://gw.example.com/_tunnel")]
    public void Long_poll_reaches_the_same_endpoint_over_https(string server, string expected)
    {
        using var connector = new GatewayConnector(new WStunnelAgentOptions { Server = new Uri(server), Insecure = true }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Equal(new Uri(expected), connector.LongPollUri);
    }

    [Fact]
    public void Proxy_credentials_come_from_the_url_and_stay_out_of_its_address()
    {
        var proxy = GatewayConnector.CreateProxy(new Uri("http://agent:p%40ss@proxy.corp:3128"));
        Assert.Equal(new Uri("http://proxy.corp:3128/"), proxy.Address);
        var credential = Assert.IsType<NetworkCredential>(proxy.Credentials);
        Assert.Equal("agent", credential.UserName);
        Assert.Equal("p@ss", credential.Password);
    }

    [Fact]
    public void A_proxy_without_credentials_has_none()
    {
        Assert.Null(GatewayConnector.CreateProxy(new Uri("http://proxy.corp:3128")).Credentials);
    }
}
