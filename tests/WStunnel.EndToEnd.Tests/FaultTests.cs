using System.Net;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;
using static WStunnel.EndToEnd.Tests.Infrastructure.Eventually;
using WStunnel.Server.Registry;

namespace WStunnel.EndToEnd.Tests;

/// <summary>What happens to tunnels and requests when the link between agent and gateway misbehaves.</summary>
public abstract class FaultTests(TunnelFixture fixture) : IAsyncLifetime
{
    private RelayedGateway _relayed = null!;

    public async Task InitializeAsync()
    {
        // A gateway with a short keep-alive, so dead links are found within a test's patience.
        _relayed = await RelayedGateway.StartAsync(fixture, builder =>
        {
            builder.Configuration["WStunnel:KeepAliveInterval"] = "00:00:00.250";
            builder.Configuration["WStunnel:KeepAliveTimeout"] = "00:00:01";
        });
    }

    public async Task DisposeAsync() => await _relayed.DisposeAsync();

    [Fact]
    public async Task A_black_holed_link_is_detected_within_the_keep_alive_timeout_and_queued_requests_are_served()
    {
        var (token, agent) = await StartAgentThroughRelayAsync();
        await using var _ = agent;
        var tunnel = _relayed.Gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(token)!;
        var before = tunnel.Session!;
        Assert.Equal("status 200", await _relayed.Client.GetStringAsync($"/_token/{token}/status/200"));

        var inFlight = _relayed.Client.GetStringAsync($"/_token/{token}/delay/2000");
        await WaitUntil(() => before.ActiveStreams == 1, "the slow request to be in flight");
        _relayed.Relay.BlackHoleOpenLinks();

        // Both ends notice the silence within their keep-alive timeout (1 s) and keep the session;
        // a request sent meanwhile waits. The agent dials again and resumes the session on the new link.
        await WaitUntil(() => before.IsDetached || before.Resumptions > 0, "the gateway to notice the black-holed link");
        var id = Guid.NewGuid().ToString("N");
        var queued = _relayed.Client.GetStringAsync($"/_token/{token}/count/{id}");

        Assert.Equal("done 2000", await inFlight.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal($"counted {id} 0", await queued.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Same(before, tunnel.Session);
        Assert.True(before.Resumptions >= 1);
        Assert.Equal(1, fixture.Backend.Counts[id]);
    }

    [Fact]
    public async Task A_reset_mid_download_is_resumed_and_the_client_gets_the_whole_body_from_one_backend_call()
    {
        const int size = 50_000_000;
        var (token, agent) = await StartAgentThroughRelayAsync();
        await using var _ = agent;
        using var response = await _relayed.Client.GetAsync($"/_token/{token}/bytes/{size}", HttpCompletionOption.ResponseHeadersRead);
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
        _relayed.Relay.ResetOpenLinks();

        var rest = async () =>
        {
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                received += read;
            }
        };

        // Over a WebSocket the session resumes on the agent's next connection; long-poll even retries
        // the cut requests from the same offsets. Either way the client reads on as if nothing happened.
        await rest().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(size, received);
        Assert.Equal(Backend.ExpectedHash(size), Convert.ToHexStringLower(hash.GetHashAndReset()));

        // The agent comes back by itself; nothing was sent to the backend again.
        await TunnelFixture.WaitForRegistrationAsync(_relayed.Gateway, token);
        Assert.Equal(hits, fixture.Backend.Hits);
        Assert.Equal("status 200", await _relayed.Client.GetStringAsync($"/_token/{token}/status/200").WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Links_cut_every_few_megabytes_mid_upload_still_deliver_the_whole_body_to_one_backend_call()
    {
        // Every link the agent opens is cut (reset) after 3 MB towards it: a 20 MB upload outlives several.
        const long size = 20_000_000;
        _relayed.Relay.CutAfterBytes = 3_000_000;
        var (token, agent) = await StartAgentThroughRelayAsync();
        await using var _ = agent;
        var links = _relayed.Relay.LinksAccepted;
        var hits = fixture.Backend.Hits;

        using var content = new PatternContent(size);
        using var response = await _relayed.Client.PostAsync($"/_token/{token}/upload", content).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{size} {Backend.ExpectedHash(size)}", await response.Content.ReadAsStringAsync());
        Assert.True(_relayed.Relay.LinksAccepted - links >= 3, $"the upload crossed {_relayed.Relay.LinksAccepted - links} new links");
        Assert.Equal(hits + 1, fixture.Backend.Hits);
    }

    [Fact]
    public async Task A_slow_link_delays_requests_but_loses_and_reorders_nothing()
    {
        var (token, agent) = await StartAgentThroughRelayAsync();
        await using var _ = agent;
        _relayed.Relay.Delay = TimeSpan.FromMilliseconds(20);

        var sizes = Enumerable.Range(0, 16).Select(i => 1000 + (i * 37_000)).ToArray();
        var bodies = await Task.WhenAll(sizes.Select(n => _relayed.Client.GetByteArrayAsync($"/_token/{token}/bytes/{n}"))).WaitAsync(TimeSpan.FromSeconds(60));

        for (var i = 0; i < sizes.Length; i++)
        {
            Assert.Equal(Backend.ExpectedHash(sizes[i]), Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bodies[i])));
        }
    }

    [Fact]
    public async Task A_throttled_bulk_transfer_does_not_trip_the_keep_alive()
    {
        var (token, agent) = await StartAgentThroughRelayAsync();
        await using var _ = agent;
        var tunnel = _relayed.Gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(token)!;
        var session = tunnel.Session!;
        _relayed.Relay.BytesPerSecond = 4 * 1024 * 1024;

        // 12 MB at 4 MB/s: three seconds of bulk data on a link whose keep-alive timeout is one second.
        var body = await _relayed.Client.GetByteArrayAsync($"/_token/{token}/bytes/12000000").WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(12_000_000, body.Length);
        Assert.Same(session, tunnel.Session);
    }

    [Fact]
    public async Task Beyond_the_resume_window_an_unanswered_request_gets_502_and_is_never_sent_twice()
    {
        await using var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder =>
        {
            builder.Configuration["WStunnel:KeepAliveInterval"] = "00:00:00.250";
            builder.Configuration["WStunnel:KeepAliveTimeout"] = "00:00:01";
            builder.Configuration["WStunnel:ResumeWindow"] = "00:00:01";
        });
        var address = TunnelFixture.AddressOf(gateway);
        await using var relay = FaultRelay.Start(address.Port);
        using var client = fixture.Certificate.CreateClient(address);
        var token = "expired-" + Guid.NewGuid().ToString("N");
        var log = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(new Uri($"wss://localhost:{relay.Port}"), token, fixture.Backend.Address, fixture.Certificate.CaFile, o =>
        {
            o.Transport = fixture.Transport;
            o.KeepAliveInterval = TimeSpan.FromMilliseconds(250);
            o.KeepAliveTimeout = TimeSpan.FromSeconds(1);
            o.ResumeWindow = TimeSpan.FromSeconds(1);
            o.ConnectTimeout = TimeSpan.FromSeconds(2);
            o.ReconnectDelay = TimeSpan.FromMilliseconds(50);
            o.MaxReconnectDelay = TimeSpan.FromMilliseconds(200);
        }, logger: log);
        await TunnelFixture.WaitForRegistrationAsync(gateway, token);
        var session = gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(token)!.Session!;

        // The agent vanishes (its link goes silent, and it cannot dial again) with a POST in flight.
        var id = Guid.NewGuid().ToString("N");
        using var content = new StringContent("once only");
        var post = client.PostAsync($"/_token/{token}/count/{id}?delay=1", content);
        await WaitUntil(() => session.ActiveStreams == 1 || fixture.Backend.Counts.ContainsKey(id), "the POST to be in flight");
        relay.RefuseNewLinks = true;
        relay.BlackHoleOpenLinks();

        // 502 if no response head had come back, the whole answer if it all had; if the head came
        // and the link went silent before the body's end, the response is cut off (never passed off as complete).
        HttpStatusCode? status = null;
        try
        {
            using var response = await post.WaitAsync(TimeSpan.FromSeconds(30));
            status = response.StatusCode;
        }
        catch (HttpRequestException)
        {
        }

        await session.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(status is null or HttpStatusCode.BadGateway or HttpStatusCode.OK, $"got {status}");

        // The agent comes back with a fresh session; the POST is not replayed to the backend.
        relay.RefuseNewLinks = false;
        try
        {
            await TunnelFixture.WaitForRegistrationAsync(gateway, token);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "; agent log:\n" + string.Join('\n', log.Lines.TakeLast(15)), ex);
        }

        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200").WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(fixture.Backend.Counts.GetValueOrDefault(id) <= 1);
    }
    private async Task<(string Token, RunningAgent Agent)> StartAgentThroughRelayAsync()
    {
        var token = "fault-" + Guid.NewGuid().ToString("N");
        var agent = await RunningAgent.StartAsync(new Uri($"wss://localhost:{_relayed.Relay.Port}"), token, fixture.Backend.Address, fixture.Certificate.CaFile, o =>
        {
            o.Transport = fixture.Transport;
            o.KeepAliveInterval = TimeSpan.FromMilliseconds(250);
            o.KeepAliveTimeout = TimeSpan.FromSeconds(1);
            o.ReconnectDelay = TimeSpan.FromMilliseconds(50);
            o.MaxReconnectDelay = TimeSpan.FromMilliseconds(200);
        });
        await TunnelFixture.WaitForRegistrationAsync(_relayed.Gateway, token);
        return (token, agent);
    }
}

public sealed class FaultTestsOverWebSocket(WebSocketTunnelFixture fixture) : FaultTests(fixture), IClassFixture<WebSocketTunnelFixture>;

public sealed class FaultTestsOverLongPoll(LongPollTunnelFixture fixture) : FaultTests(fixture), IClassFixture<LongPollTunnelFixture>;
