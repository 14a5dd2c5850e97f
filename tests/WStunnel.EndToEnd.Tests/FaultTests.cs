using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server.Registry;

namespace WStunnel.EndToEnd.Tests;

/// <summary>What happens to tunnels and requests when the link between agent and gateway misbehaves.</summary>
public abstract class FaultTests(TunnelFixture fixture) : IAsyncLifetime
{
    private WebApplication _gateway = null!;
    private FaultRelay _relay = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        // A gateway with a short keep-alive, so dead links are found within a test's patience.
        _gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder =>
        {
            builder.Configuration["WStunnel:KeepAliveInterval"] = "00:00:00.250";
            builder.Configuration["WStunnel:KeepAliveTimeout"] = "00:00:01";
        });
        var address = new Uri(_gateway.Urls.First().Replace("127.0.0.1", "localhost", StringComparison.Ordinal));
        _relay = FaultRelay.Start(address.Port);
        _client = fixture.Certificate.CreateClient(address);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _relay.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task A_black_holed_link_is_detected_within_the_keep_alive_timeout_and_queued_requests_are_served()
    {
        var (token, agent) = await StartAgentThroughRelayAsync();
        await using var _ = agent;
        var tunnel = _gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(token)!;
        var before = tunnel.Session!;
        Assert.Equal("status 200", await _client.GetStringAsync($"/_token/{token}/status/200"));

        var inFlight = _client.GetAsync($"/_token/{token}/delay/2000");
        await WaitUntil(() => before.ActiveStreams == 1, "the slow request to be in flight");
        _relay.BlackHoleOpenLinks();

        // The gateway notices the silence within its keep-alive timeout (1 s); the request caught in
        // the dead link ends cleanly instead of hanging (it cannot be replayed without resumable sessions).
        await WaitUntil(() => tunnel.Session != before, "the gateway to drop the black-holed session");
        using (var caught = await inFlight.WaitAsync(TimeSpan.FromSeconds(30)))
        {
            Assert.True(caught.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadGateway, $"got {caught.StatusCode}");
        }

        // Requests from now on wait for the agent, which dials again by itself, and are served once.
        var id = Guid.NewGuid().ToString("N");
        Assert.Equal($"counted {id} 0", await _client.GetStringAsync($"/_token/{token}/count/{id}").WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, fixture.Backend.Counts[id]);
    }

    /// <summary>Whether the transport itself carries a session across a reset TCP connection.</summary>
    protected abstract bool TransportSurvivesReset { get; }

    [Fact]
    public async Task A_reset_mid_download_never_passes_off_a_truncated_body_and_calls_the_backend_once()
    {
        const int size = 50_000_000;
        var (token, agent) = await StartAgentThroughRelayAsync();
        await using var _ = agent;
        using var response = await _client.GetAsync($"/_token/{token}/bytes/{size}", HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var buffer = new byte[64 * 1024];
        long received = 0;
        while (received < 5_000_000)
        {
            var read = await body.ReadAsync(buffer);
            hash.AppendData(buffer, 0, read);
            received += read;
        }

        var hits = fixture.Backend.Hits;
        _relay.ResetOpenLinks();

        var rest = async () =>
        {
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                received += read;
            }
        };

        if (TransportSurvivesReset)
        {
            // Long-poll retries the cut requests from the same offsets: the session never noticed.
            await rest();
            Assert.Equal(size, received);
            Assert.Equal(Backend.ExpectedHash(size), Convert.ToHexStringLower(hash.GetHashAndReset()));
        }
        else
        {
            // The client sees its response end abnormally, never a truncated body passed off as whole.
            await Assert.ThrowsAnyAsync<Exception>(rest);
        }

        // The agent comes back by itself; nothing was sent to the backend again.
        await TunnelFixture.WaitForRegistrationAsync(_gateway, token);
        Assert.Equal(hits, fixture.Backend.Hits);
        Assert.Equal("status 200", await _client.GetStringAsync($"/_token/{token}/status/200").WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_throttled_bulk_transfer_does_not_trip_the_keep_alive()
    {
        var (token, agent) = await StartAgentThroughRelayAsync();
        await using var _ = agent;
        var tunnel = _gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(token)!;
        var session = tunnel.Session!;
        _relay.BytesPerSecond = 4 * 1024 * 1024;

        // 12 MB at 4 MB/s: three seconds of bulk data on a link whose keep-alive timeout is one second.
        var body = await _client.GetByteArrayAsync($"/_token/{token}/bytes/12000000").WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(12_000_000, body.Length);
        Assert.Same(session, tunnel.Session);
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }

    private async Task<(string Token, RunningAgent Agent)> StartAgentThroughRelayAsync()
    {
        var token = "fault-" + Guid.NewGuid().ToString("N");
        var agent = await RunningAgent.StartAsync(new Uri($"wss://localhost:{_relay.Port}"), token, fixture.Backend.Address, fixture.Certificate.CaFile, o =>
        {
            o.Transport = fixture.Transport;
            o.KeepAliveInterval = TimeSpan.FromMilliseconds(250);
            o.KeepAliveTimeout = TimeSpan.FromSeconds(1);
            o.ReconnectDelay = TimeSpan.FromMilliseconds(50);
            o.MaxReconnectDelay = TimeSpan.FromMilliseconds(200);
        });
        await TunnelFixture.WaitForRegistrationAsync(_gateway, token);
        return (token, agent);
    }
}

public sealed class FaultTestsOverWebSocket(WebSocketTunnelFixture fixture) : FaultTests(fixture), IClassFixture<WebSocketTunnelFixture>
{
    protected override bool TransportSurvivesReset => false;
}

public sealed class FaultTestsOverLongPoll(LongPollTunnelFixture fixture) : FaultTests(fixture), IClassFixture<LongPollTunnelFixture>
{
    protected override bool TransportSurvivesReset => true;
}
