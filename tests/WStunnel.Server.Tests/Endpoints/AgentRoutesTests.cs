using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.Server.Endpoints;

namespace WStunnel.Server.Tests.Endpoints;

public sealed class AgentRoutesTests
{
    private static WebApplication App()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddReverseProxy().AddWStunnel();
        return builder.Build();
    }

    [Fact]
    public async Task MapWStunnel_LiteralPatterns_AreTheAgentPaths()
    {
        await using var app = App();
        app.MapWStunnel();
        app.MapWStunnel("/agents/v2/");

        var routes = app.Services.GetRequiredService<AgentRoutes>();
        Assert.Null(routes.Unavailable);
        Assert.Equal(["/_tunnel", "/agents/v2"], routes.Paths);
    }

    [Fact]
    public async Task MapWStunnel_NotCalled_NoAgentPaths()
    {
        await using var app = App();

        var routes = app.Services.GetRequiredService<AgentRoutes>();
        Assert.NotNull(routes.Unavailable);
        Assert.Empty(routes.Paths);
    }

    [Fact]
    public async Task MapWStunnel_WithAConvention_AgentsStayOnTheHttpPipeline()
    {
        await using var app = App();
        app.MapWStunnel().RequireHost("gateway.example");

        var routes = app.Services.GetRequiredService<AgentRoutes>();
        Assert.Contains("conventions", routes.Unavailable, StringComparison.Ordinal);
        Assert.Empty(routes.Paths);
    }

    [Fact]
    public async Task MapWStunnel_InARouteGroupOrWithParameters_AgentsStayOnTheHttpPipeline()
    {
        await using var grouped = App();
        grouped.MapGroup("/outer").MapWStunnel();
        Assert.Contains("route group", grouped.Services.GetRequiredService<AgentRoutes>().Unavailable, StringComparison.Ordinal);

        await using var parameterised = App();
        parameterised.MapWStunnel("/{tenant}/_tunnel");
        Assert.Contains("not a literal path", parameterised.Services.GetRequiredService<AgentRoutes>().Unavailable, StringComparison.Ordinal);
        Assert.Empty(parameterised.Services.GetRequiredService<AgentRoutes>().Paths);
    }
}
