using System.Net;
using WStunnel.Server.Security;

namespace WStunnel.Server.Tests.Security;

public sealed class NetworkListTests
{
    [Theory]
    [InlineData("10.1.2.3", true)]
    [InlineData("::ffff:10.1.2.3", true)]
    [InlineData("192.0.2.9", true)]
    [InlineData("192.0.2.10", false)]
    [InlineData("11.0.0.1", false)]
    [InlineData("2001:db8::1", true)]
    [InlineData("2001:db9::1", false)]
    public void Addresses_and_networks_are_matched_exactly(string address, bool expected)
    {
        var proxies = new NetworkList(["10.0.0.0/8", "192.0.2.9", "2001:db8::/32"]);

        Assert.Equal(expected, proxies.Contains(IPAddress.Parse(address)));
    }

    [Fact]
    public void No_address_is_never_a_proxy() => Assert.False(new NetworkList(["0.0.0.0/0"]).Contains(null));

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("proxy.example.com")]
    [InlineData("")]
    public void Anything_but_an_address_or_a_network_is_refused(string entry) => Assert.False(NetworkList.TryParse(entry, out _));
}
