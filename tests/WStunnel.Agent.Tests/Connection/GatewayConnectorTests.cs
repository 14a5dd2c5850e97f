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
