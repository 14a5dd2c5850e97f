using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server.Registry;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// Several agents serve one tunnel only where the operator made it a pool: then requests are spread
/// over them, and an agent that leaves gets no more requests from that moment.
/// </summary>
public sealed class PoolTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>, IAsyncLifetime
{
    private const string Token = "pool-tunnel-token-0123456789";
    private readonly ListLogger _gatewayLog = new();
    private WebApplication _gateway = null!;
    private Backend _first = null!;
    private Backend _second = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder =>
        {
            builder.Configuration["WStunnel:Tunnels:pool:Token"] = Token;
            builder.Configuration["WStunnel:Tunnels:pool:MaxAgents"] = "2";
            builder.Configuration["WStunnel:Tunnels:pool:LoadBalancingPolicy"] = "RoundRobin";
            builder.Logging.AddProvider(new ListLoggerProvider(_gatewayLog));
        });
        _first = await Backend.StartAsync();
        _second = await Backend.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _first.DisposeAsync();
        await _second.DisposeAsync();
    }

    [Theory]
    [InlineData(AgentTransport.WebSocket)]
    [InlineData(AgentTransport.LongPoll)]
    public async Task A_pool_spreads_requests_over_its_agents_and_one_that_leaves_gets_none_from_then_on(AgentTransport transport)
    {
        var first = await StartAgentAsync(_first, transport);
        await using var second = await StartAgentAsync(_second, transport);
        await Eventually.WaitUntil(() => Tunnel.ConnectedAgents == 2, "both agents joined the pool");
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(_gateway));

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("status 200", await client.GetStringAsync($"/_token/{Token}/status/200"));
        }

        Assert.Equal(10, _first.Hits);
        Assert.Equal(10, _second.Hits);

        await first.DisposeAsync();
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("status 200", await client.GetStringAsync($"/_token/{Token}/status/200"));
        }

        Assert.Equal(10, _first.Hits);
        Assert.Equal(30, _second.Hits);
    }

    [Fact]
    public async Task An_agent_beyond_the_pool_size_is_refused_with_503_and_the_pool_keeps_serving()
    {
        await using var first = await StartAgentAsync(_first, AgentTransport.WebSocket);
        await using var second = await StartAgentAsync(_second, AgentTransport.WebSocket);
        await Eventually.WaitUntil(() => Tunnel.ConnectedAgents == 2, "both agents joined the pool");

        var log = new ListLogger();
        await using var third = await RunningAgent.StartAsync(TunnelFixture.AgentServer(TunnelFixture.AddressOf(_gateway)), Token, fixture.Backend.Address,
            fixture.Certificate.CaFile, o => o.Transport = AgentTransport.WebSocket, waitForTunnel: false, logger: log);

        Assert.Contains("503", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        Assert.Contains("MaxAgents", await _gatewayLog.WaitForAsync("pool of tunnel 'pool' is full"), StringComparison.Ordinal);
        Assert.Equal(2, Tunnel.Sessions.Count);
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(_gateway));
        var hits = fixture.Backend.Hits;
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/_token/{Token}/status/200")).StatusCode);
        }

        Assert.Equal(hits, fixture.Backend.Hits); // the refused agent's backend saw nothing
    }

    [Fact]
    public async Task Without_a_pool_a_newly_registering_agent_takes_the_tunnel_over_and_never_shares_it()
    {
        var token = "single-" + Guid.NewGuid().ToString("N");
        var server = TunnelFixture.AgentServer(TunnelFixture.AddressOf(_gateway));
        // The replaced agent dials again only after its backoff (up to an hour here), so it cannot take the tunnel back mid-test.
        await using var first = await RunningAgent.StartAsync(server, token, _first.Address, fixture.Certificate.CaFile,
            o => { o.Transport = AgentTransport.WebSocket; o.ReconnectDelay = o.MaxReconnectDelay = TimeSpan.FromHours(1); });
        var tunnel = _gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(token)!;
        var replaced = tunnel.Session;
        await using var second = await RunningAgent.StartAsync(server, token, _second.Address, fixture.Certificate.CaFile, o => o.Transport = AgentTransport.WebSocket);
        await replaced!.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(_gateway));
        var before = _first.Hits;

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
        }

        Assert.Equal(before, _first.Hits);
        Assert.Equal(10, _second.Hits);
        Assert.Single(tunnel.Sessions);
    }

    private TunnelEntry Tunnel => _gateway.Services.GetRequiredService<TunnelRegistry>().FindByName("pool")!;

    private Task<RunningAgent> StartAgentAsync(Backend backend, AgentTransport transport) =>
        RunningAgent.StartAsync(TunnelFixture.AgentServer(TunnelFixture.AddressOf(_gateway)), Token, backend.Address, fixture.Certificate.CaFile,
            o => o.Transport = transport);
}
