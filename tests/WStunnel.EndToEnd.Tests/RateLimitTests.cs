using System.Net;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>Per address limits on what abuse looks like: registering agents over and over, and guessing tokens.</summary>
public sealed class RateLimitTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task Registrations_beyond_the_per_address_limit_get_429_with_Retry_After()
    {
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, "WStunnel:RateLimits:RegistrationsPerMinute", "2");
        var server = TunnelFixture.AgentServer(TunnelFixture.AddressOf(tunnel.Gateway));

        // The dedicated tunnel's agent used one registration; one more is allowed, the next is refused.
        await using var second = await RunningAgent.StartAsync(server, "second-" + Guid.NewGuid().ToString("N"), fixture.Backend.Address, fixture.Certificate.CaFile,
            o => o.Transport = AgentTransport.WebSocket);
        var log = new ListLogger();
        await using var third = await RunningAgent.StartAsync(server, "third-" + Guid.NewGuid().ToString("N"), fixture.Backend.Address, fixture.Certificate.CaFile,
            o => o.Transport = AgentTransport.WebSocket, waitForTunnel: false, logger: log);
        Assert.Contains("429", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);

        // What it asks of the gateway shows in a raw registration attempt.
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(tunnel.Gateway));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_tunnel/connect") { Content = new ByteArrayContent([]) };
        request.Headers.Add("X-WStunnel-Token", "fourth-" + Guid.NewGuid().ToString("N"));
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After must say when to come back");
        Assert.Contains("RegistrationsPerMinute", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The admitted agents keep serving.
        Assert.Equal("status 200", await tunnel.Client.GetStringAsync(tunnel.Via("/status/200")));
    }

    [Fact]
    public async Task Guessing_tokens_gets_429_after_the_limit_while_known_tokens_are_served()
    {
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, "WStunnel:RateLimits:UnknownTokenRequestsPerMinute", "3");

        for (var i = 0; i < 3; i++)
        {
            using var guess = await tunnel.Client.GetAsync($"/_token/guess-{Guid.NewGuid():N}/status/200");
            Assert.Equal(HttpStatusCode.NotFound, guess.StatusCode);
        }

        using var limited = await tunnel.Client.GetAsync($"/_token/guess-{Guid.NewGuid():N}/status/200");
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After must say when to come back");
        Assert.Equal("status 200", await tunnel.Client.GetStringAsync(tunnel.Via("/status/200")));
    }
}
