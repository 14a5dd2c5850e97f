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
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, "WStunnel:Limits:MaxHeaderBytes", "2048");

        using var small = await tunnel.Client.GetAsync(tunnel.Via("/big-headers/1000"));
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);

        using var large = await tunnel.Client.GetAsync(tunnel.Via("/big-headers/4000"));
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_request_body_beyond_the_limit_gets_413_and_the_backend_never_sees_a_complete_body(bool withLength)
    {
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, "WStunnel:MaxRequestBodySize", "1000000");

        using var within = await tunnel.Client.PostAsync(tunnel.Via("/upload"), new PatternContent(1_000_000));
        Assert.Equal(HttpStatusCode.OK, within.StatusCode);

        var id = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Post, tunnel.Via($"/count/{id}"))
        {
            Content = withLength ? new PatternContent(3_000_000) : new StreamContent(new PatternStream(3_000_000)),
        };
        request.Headers.ExpectContinue = true; // as curl does for large bodies: a declared length is refused before it is sent
        try
        {
            using var beyond = await tunnel.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, beyond.StatusCode);
        }
        catch (HttpRequestException ex) when (!withLength && ex.InnerException is IOException)
        {
            // A chunked body is refused only once the limit is crossed; the gateway answers 413 and
            // closes, which the client may notice as a broken pipe while still sending.
        }

        Assert.False(fixture.Backend.Counts.ContainsKey(id), "the backend must not take a truncated body for a whole one");
    }

    [Fact]
    public async Task Requests_beyond_the_agents_concurrency_limit_wait_for_a_free_stream_and_all_succeed()
    {
        var token = "concurrency-" + Guid.NewGuid().ToString("N");
        var agent = await fixture.StartAgentAsync(token, fixture.Backend.Address, o => o.MaxConcurrentRequests = 2);
        var session = agent.Agent.CurrentSession!;
        var busiest = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                busiest = Math.Max(busiest, session.ActiveStreams);
                await Task.Delay(5);
            }
        });

        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => fixture.Client.GetStringAsync($"/_token/{token}/delay/300")));
        await sampling.CancelAsync();
        await sampler;

        Assert.All(answers, a => Assert.Equal("done 300", a));
        Assert.Equal(2, busiest);
    }
}
