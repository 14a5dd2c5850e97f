using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server.Registry;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// Clients know a tunnel's token (it is in the URLs they call), so a tunnel configured with an
/// agent secret admits only agents that present it — and a wrong one never disturbs the agent in place.
/// </summary>
public sealed class AgentSecretTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>, IAsyncLifetime
{
    private const string Token = "secured-tunnel-token-0123456789";
    private const string Secret = "secured-agent-secret-9876543210";
    private WebApplication _gateway = null!;
    private readonly ListLogger _gatewayLog = new();

    public async Task InitializeAsync() =>
        _gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder =>
        {
            builder.Configuration["WStunnel:Tunnels:secured:Token"] = Token;
            builder.Configuration["WStunnel:Tunnels:secured:AgentSecret"] = Secret;
            builder.Logging.AddProvider(new ListLoggerProvider(_gatewayLog));
        });

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Theory]
    [InlineData(AgentTransport.WebSocket)]
    [InlineData(AgentTransport.LongPoll)]
    public async Task An_agent_with_the_secret_serves_the_tunnel(AgentTransport transport)
    {
        await using var agent = await StartAgentAsync(Secret, transport);
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(_gateway));

        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{Token}/status/200"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("a-wrong-secret-of-sufficient-length")]
    public async Task An_agent_without_the_right_secret_is_refused_with_403_and_the_agent_in_place_keeps_serving(string? secret)
    {
        await using var legitimate = await StartAgentAsync(Secret, AgentTransport.WebSocket);
        var tunnel = _gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(Token)!;
        var session = tunnel.Session;

        var log = new ListLogger();
        await using var intruder = await RunningAgent.StartAsync(TunnelFixture.AgentServer(TunnelFixture.AddressOf(_gateway)), Token, fixture.Backend.Address,
            fixture.Certificate.CaFile, o => { o.Transport = AgentTransport.WebSocket; o.Secret = secret; }, waitForTunnel: false, logger: log);

        Assert.Contains("403", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        var warning = await _gatewayLog.WaitForAsync("agent secret is missing or wrong");
        Assert.Contains("secured", warning, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, warning, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, string.Join('\n', _gatewayLog.Lines), StringComparison.Ordinal);
        Assert.Same(session, tunnel.Session);
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(_gateway));
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{Token}/status/200"));
    }

    private async Task<RunningAgent> StartAgentAsync(string? secret, AgentTransport transport)
    {
        var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(TunnelFixture.AddressOf(_gateway)), Token, fixture.Backend.Address,
            fixture.Certificate.CaFile, o => { o.Transport = transport; o.Secret = secret; });
        await TunnelFixture.WaitForRegistrationAsync(_gateway, Token);
        return agent;
    }
}
