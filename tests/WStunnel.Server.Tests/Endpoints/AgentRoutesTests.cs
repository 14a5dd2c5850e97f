using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.Server.Endpoints;

namespace WStunnel.Server.Tests.Endpoints;

public sealed class AgentRoutesTests
{
    private static AgentRoutes.Snapshot Mapped(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddReverseProxy().AddWStunnel();
        builder.Services.AddAuthorization();
        var app = builder.Build();
        map(app);
        return AgentRoutes.Read(((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints));
    }

    [Fact]
    public void Read_PlainMapWStunnel_IsAnAgentRouteForAnyHost()
    {
        var (routes, unavailable) = Mapped(app => app.MapWStunnel());

        Assert.Null(unavailable);
        var route = Assert.Single(routes);
        Assert.Equal("/_tunnel", route.Path);
        Assert.Empty(route.Hosts);
    }

    [Fact]
    public void Read_RequireHostAndDescriptions_AreAppliedOrHarmless()
    {
        var (routes, unavailable) = Mapped(app => app.MapWStunnel("/agents/v2/").RequireHost("agents.example.com", "*.agents.test:8443").WithName("agents"));

        Assert.Null(unavailable);
        var route = Assert.Single(routes);
        Assert.Equal("/agents/v2", route.Path);
        Assert.Equal(["agents.example.com", "*.agents.test:8443"], route.Hosts);
    }

    [Fact]
    public void Read_HostsOnTheGroupAndTheEndpoint_TheEndpointsDecideAsInRouting()
    {
        var (routes, _) = Mapped(app => app.MapGroup("").RequireHost("group.example.com").MapWStunnel().RequireHost("agents.example.com"));

        Assert.Equal(["agents.example.com"], Assert.Single(routes).Hosts);
    }

    [Fact]
    public void Read_MapWStunnelInARouteGroup_HasTheGroupsPrefix()
    {
        var (routes, unavailable) = Mapped(app => app.MapGroup("/outer").MapWStunnel());

        Assert.Null(unavailable);
        Assert.Equal("/outer/_tunnel", Assert.Single(routes).Path);
    }

    [Fact]
    public void Read_AuthorizationOnTheAgentEndpoint_KeepsAgentsOnTheHttpPipeline()
    {
        var (routes, unavailable) = Mapped(app => app.MapWStunnel().RequireAuthorization());

        Assert.Contains("AuthorizeAttribute", unavailable, StringComparison.Ordinal);
        Assert.Empty(routes);
    }

    [Fact]
    public void Read_UnknownMetadataOnAGroupAround_KeepsAgentsOnTheHttpPipeline()
    {
        var (_, unavailable) = Mapped(app => app.MapGroup("/outer").WithMetadata(new UnknownRequirement()).MapWStunnel());

        Assert.Contains(nameof(UnknownRequirement), unavailable, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_ParametersOrNoMapWStunnel_NoAgentRoutes()
    {
        Assert.Contains("not a literal path", Mapped(app => app.MapWStunnel("/{tenant}/_tunnel")).Unavailable, StringComparison.Ordinal);
        Assert.Contains("has not been called", Mapped(app => app.MapGet("/", () => "hello")).Unavailable, StringComparison.Ordinal);
    }

    [Fact]
    public void Accepts_NoHosts_AnyHost() => Assert.True(new AgentRoute("/_tunnel", []).Accepts("anything.example"));

    private sealed class UnknownRequirement;
}
