using System.Net;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.EndToEnd.Tests.Infrastructure;
using static WStunnel.EndToEnd.Tests.Infrastructure.Eventually;
using WStunnel.Server.Registry;

namespace WStunnel.EndToEnd.Tests;

/// <summary>Stopping either end lets requests in flight finish; requests a stopping agent never saw wait for the next agent.</summary>
public sealed class ShutdownTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task An_agent_that_stops_finishes_its_requests_in_flight_first()
    {
        var token = "stopping-agent-" + Guid.NewGuid().ToString("N");
        var agent = await RunningAgent.StartAsync(fixture.AgentServerUri, token, fixture.Backend.Address, fixture.Certificate.CaFile, o => o.Transport = fixture.Transport);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);
        var session = fixture.Gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(token)!.Session!;
        var agentSession = agent.Agent.CurrentSession!;
        var inFlight = fixture.Client.GetAsync($"/_token/{token}/delay/1000");
        await WaitUntil(() => agentSession.ActiveStreams == 1, "the request to reach the agent");

        var stopping = agent.DisposeAsync().AsTask();
        using var response = await inFlight.WaitAsync(TimeSpan.FromSeconds(30));
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("done 1000", await response.Content.ReadAsStringAsync());
        await session.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Null(session.Failure);
    }

    [Fact]
    public async Task A_gateway_that_stops_tells_agents_to_go_away_after_its_requests_in_flight_finish()
    {
        var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address);
        var address = TunnelFixture.AddressOf(gateway);
        using var client = fixture.Certificate.CreateClient(address);
        var token = "stopping-gateway-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(address), token,
            fixture.Backend.Address, fixture.Certificate.CaFile, o => o.Transport = fixture.Transport);
        await TunnelFixture.WaitForRegistrationAsync(gateway, token);
        var agentSession = agent.Agent.CurrentSession!;
        var inFlight = client.GetAsync($"/_token/{token}/delay/1000");
        await WaitUntil(() => agentSession.ActiveStreams == 1, "the request to reach the agent");

        var stopping = gateway.StopAsync();
        using var response = await inFlight.WaitAsync(TimeSpan.FromSeconds(30));
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        await gateway.DisposeAsync();

        Assert.Equal("done 1000", await response.Content.ReadAsStringAsync());
        Assert.True(agentSession.RemoteGoingAway, "the agent was not told to go away");
        await agentSession.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Null(agentSession.Failure);
    }

    [Fact]
    public async Task A_request_the_stopping_agent_never_saw_waits_for_the_next_agent_and_is_served_once()
    {
        var token = "handover-" + Guid.NewGuid().ToString("N");
        var first = await RunningAgent.StartAsync(fixture.AgentServerUri, token, fixture.Backend.Address, fixture.Certificate.CaFile, o => o.Transport = fixture.Transport);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);
        await first.DisposeAsync(); // gone for good: go-away sent, nothing in flight

        var id = Guid.NewGuid().ToString("N");
        var request = fixture.Client.GetStringAsync($"/_token/{token}/count/{id}");
        await using var second = await RunningAgent.StartAsync(fixture.AgentServerUri, token, fixture.Backend.Address, fixture.Certificate.CaFile, o => o.Transport = fixture.Transport);

        Assert.Equal($"counted {id} 0", await request.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, fixture.Backend.Counts[id]);
    }
}
