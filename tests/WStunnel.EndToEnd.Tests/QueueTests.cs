using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.EndToEnd.Tests.Infrastructure;
using static WStunnel.EndToEnd.Tests.Infrastructure.Eventually;
using WStunnel.Server.Registry;

namespace WStunnel.EndToEnd.Tests;

/// <summary>While a tunnel's agent is away, requests wait for it instead of failing — within documented bounds.</summary>
public sealed class QueueTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task Requests_sent_while_the_agent_is_away_are_served_once_when_it_returns()
    {
        var token = "away-" + Guid.NewGuid().ToString("N");
        var agent = await fixture.StartAgentAsync(token, fixture.Backend.Address);
        await agent.DisposeAsync();
        var tunnel = await WaitUntilAwayAsync(fixture.Gateway, token);

        var ids = Enumerable.Range(0, 8).Select(i => $"{i}-{Guid.NewGuid():N}").ToArray();
        var requests = new List<Task<HttpResponseMessage>>();
        foreach (var id in ids)
        {
            using var content = new StringContent("body of " + id);
            requests.Add(fixture.Client.PostAsync($"/_token/{token}/count/{id}", content));
            await WaitUntil(() => tunnel.Queue.Waiting == requests.Count, $"request {requests.Count} to wait in line");
        }

        await fixture.StartAgentAsync(token, fixture.Backend.Address);
        var responses = await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(ids, id => Assert.Equal(1, fixture.Backend.Counts[id]));
        Assert.Equal(0, tunnel.Queue.Waiting);
    }

    [Fact]
    public async Task A_full_queue_answers_503_with_Retry_After()
    {
        await using var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address,
            b => b.Configuration["WStunnel:Queue:MaxPerTunnel"] = "2");
        var (client, token) = await AgentLeftAsync(gateway);
        var tunnel = await WaitUntilAwayAsync(gateway, token);

        var waiting = new[] { client.GetAsync($"/_token/{token}/status/200"), client.GetAsync($"/_token/{token}/status/200") };
        await WaitUntil(() => tunnel.Queue.Waiting == 2, "two requests to wait");
        using var refused = await client.GetAsync($"/_token/{token}/status/200");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(5), refused.Headers.RetryAfter?.Delta);
        Assert.Equal("Too many requests are waiting for this tunnel's agent.\n", await refused.Content.ReadAsStringAsync());
        client.CancelPendingRequests();
        await Task.WhenAll(waiting.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
    }

    [Fact]
    public async Task A_request_that_waits_longer_than_the_queue_timeout_gets_504()
    {
        await using var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address,
            b => b.Configuration["WStunnel:Queue:Timeout"] = "00:00:00.300");
        var (client, token) = await AgentLeftAsync(gateway);
        await WaitUntilAwayAsync(gateway, token);

        using var response = await client.GetAsync($"/_token/{token}/status/200");
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("The tunnel's agent did not come back in time.\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_tunnel_whose_agent_left_longer_ago_than_the_retention_gets_502_at_once()
    {
        await using var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address,
            b => b.Configuration["WStunnel:Queue:RetentionAfterDisconnect"] = "00:00:00");
        var (client, token) = await AgentLeftAsync(gateway);
        await WaitUntilAwayAsync(gateway, token);

        using var response = await client.GetAsync($"/_token/{token}/status/200");
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    private async Task<(HttpClient Client, string Token)> AgentLeftAsync(WebApplication gateway)
    {
        var address = TunnelFixture.AddressOf(gateway);
        var token = "queue-" + Guid.NewGuid().ToString("N");
        var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(address), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);
        await TunnelFixture.WaitForRegistrationAsync(gateway, token);
        await agent.DisposeAsync();
        return (fixture.Certificate.CreateClient(address), token);
    }

    private static async Task<TunnelEntry> WaitUntilAwayAsync(WebApplication gateway, string token)
    {
        var tunnel = gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(token)!;
        await WaitUntil(() => tunnel.Session is null, "the gateway to notice the agent left");
        return tunnel;
    }
}
