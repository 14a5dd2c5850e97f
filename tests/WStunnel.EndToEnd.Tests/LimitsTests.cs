using System.Net;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>Heads larger than the tunnel allows get a clear answer instead of a hang.</summary>
public sealed class LimitsTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task Response_headers_beyond_the_gateways_limit_give_502_with_a_reason()
    {
        await using var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address,
            builder => builder.Configuration["WStunnel:Limits:MaxHeaderBytes"] = "2048");
        var address = TunnelFixture.AddressOf(gateway);
        var token = "limits-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(address), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);
        using var client = fixture.Certificate.CreateClient(address);

        using var small = await client.GetAsync($"/_token/{token}/big-headers/1000");
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);

        using var large = await client.GetAsync($"/_token/{token}/big-headers/4000");
        Assert.Equal(HttpStatusCode.BadGateway, large.StatusCode);
        Assert.Equal("The target's response headers are too large for the tunnel.\n", await large.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Agents_beyond_the_tunnel_limit_are_refused_with_503()
    {
        await using var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address,
            builder => builder.Configuration["WStunnel:Limits:MaxTunnels"] = "1");
        var address = TunnelFixture.AddressOf(gateway);
        var server = TunnelFixture.AgentServer(address);
        var first = "limit-first-" + Guid.NewGuid().ToString("N");
        await using var admitted = await RunningAgent.StartAsync(server, first, fixture.Backend.Address, fixture.Certificate.CaFile, null);
        await TunnelFixture.WaitForRegistrationAsync(gateway, first);

        var log = new ListLogger();
        var refused = await RunningAgent.StartAsync(server, "limit-second-" + Guid.NewGuid().ToString("N"), fixture.Backend.Address, fixture.Certificate.CaFile,
            o => o.Transport = WStunnel.Agent.AgentTransport.WebSocket, waitForTunnel: false, logger: log);
        Assert.Contains("503", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        await refused.DisposeAsync();

        // The admitted agent loses its session and comes back: its own tunnel is still its own.
        var session = gateway.Services.GetRequiredService<WStunnel.Server.Registry.TunnelRegistry>().FindByToken(first)!.Session!;
        session.Abort(new IOException("cut by the test"));
        await session.Completion.WaitAsync(TimeSpan.FromSeconds(20));
        await TunnelFixture.WaitForRegistrationAsync(gateway, first);
    }

    [Fact]
    public async Task Request_headers_beyond_the_agents_limit_give_431()
    {
        var token = "limits-req-" + Guid.NewGuid().ToString("N");
        await fixture.StartAgentAsync(token, fixture.Backend.Address, o => o.MaxHeaderBytes = 4096);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/_token/{token}/echo/x");
        request.Headers.TryAddWithoutValidation("X-Filler", new string('f', 8000)); // well under Kestrel's own 32 KiB limit

        using var response = await fixture.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        Assert.Equal("Request headers are too large for the tunnel.\n", await response.Content.ReadAsStringAsync());
    }
}
