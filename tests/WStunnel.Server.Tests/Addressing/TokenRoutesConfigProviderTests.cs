using WStunnel.Server.Addressing;

namespace WStunnel.Server.Tests.Addressing;

public sealed class TokenRoutesConfigProviderTests
{
    [Fact]
    public void Token_routes_are_a_fixed_few_whatever_the_number_of_agents()
    {
        var options = new WStunnelOptions();
        options.HostSuffixes.Add("tunnel.example.com");
        var config = TokenRoutesConfigProvider.Build(options);

        Assert.Equal(["wstunnel-token-header", "wstunnel-token-path", "wstunnel-token-hostlabel", "wstunnel-token-wholehost"], config.Routes.Select(r => r.RouteId));
        Assert.All(config.Routes, r => Assert.Equal(TokenRoutesConfigProvider.ClusterId, r.ClusterId));
        Assert.Equal(["*.tunnel.example.com"], config.Routes.Single(r => r.RouteId == "wstunnel-token-hostlabel").Match.Hosts);
        Assert.Equal(int.MaxValue, config.Routes.Single(r => r.RouteId == "wstunnel-token-wholehost").Order);
        Assert.Equal(options.RequestActivityTimeout, config.Clusters.Single().HttpRequest!.ActivityTimeout);
    }

    [Fact]
    public void Optional_forms_publish_no_route_when_off()
    {
        var config = TokenRoutesConfigProvider.Build(new WStunnelOptions { MatchHostAsToken = false });
        Assert.Equal(["wstunnel-token-header", "wstunnel-token-path"], config.Routes.Select(r => r.RouteId));
    }
}
