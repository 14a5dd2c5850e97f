using System.Net;
using System.Security.Cryptography;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server.Registry;
using Microsoft.Extensions.DependencyInjection;

namespace WStunnel.EndToEnd.Tests;

/// <summary>Long-poll where WebSockets cannot pass, and its promise: no frame lost, none applied twice.</summary>
public sealed class LongPollTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task With_auto_an_agent_behind_a_proxy_that_refuses_WebSockets_falls_back_to_long_poll()
    {
        await using var middlebox = await Middlebox.StartAsync(fixture.Certificate, fixture.GatewayAddress, blockWebSockets: true);
        var token = "behind-proxy-" + Guid.NewGuid().ToString("N");
        var log = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(middlebox.Address), token,
            fixture.Backend.Address, fixture.Certificate.CaFile, o => o.Transport = AgentTransport.Auto, logger: log);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);

        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{token}/status/200"));
        Assert.Equal("longpoll", fixture.Gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(token)!.Session!.TransportName);
        Assert.Contains("403", await log.WaitForAsync("falling back to HTTPS long-poll"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_auto_a_WebSocket_that_carries_nothing_falls_back_to_long_poll()
    {
        await using var middlebox = await Middlebox.StartAsync(fixture.Certificate, fixture.GatewayAddress, blockWebSockets: false);
        middlebox.StallWebSockets = true;
        var token = "stalled-" + Guid.NewGuid().ToString("N");
        var log = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(middlebox.Address), token,
            fixture.Backend.Address, fixture.Certificate.CaFile, o =>
            {
                o.Transport = AgentTransport.Auto;
                o.WebSocketHandshakeTimeout = TimeSpan.FromMilliseconds(500);
            }, logger: log);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);

        var fallback = await log.WaitForAsync("falling back to HTTPS long-poll");
        Assert.True(fallback.Contains("within 0.5 s", StringComparison.Ordinal), fallback); // "no tunnel within" or "sent no hello within"
        Assert.Equal("longpoll", fixture.Gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(token)!.Session!.TransportName);
        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Fact]
    public async Task With_auto_the_agent_moves_back_to_a_WebSocket_once_it_can()
    {
        await using var middlebox = await Middlebox.StartAsync(fixture.Certificate, fixture.GatewayAddress, blockWebSockets: true);
        var token = "upgrade-back-" + Guid.NewGuid().ToString("N");
        var log = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(middlebox.Address), token,
            fixture.Backend.Address, fixture.Certificate.CaFile, o =>
            {
                o.Transport = AgentTransport.Auto;
                o.WebSocketRetryInterval = TimeSpan.FromMilliseconds(200);
            }, logger: log);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);
        var registry = fixture.Gateway.Services.GetRequiredService<TunnelRegistry>();
        Assert.Equal("longpoll", registry.FindByToken(token)!.Session!.TransportName);

        // Unblocked, the middlebox (a YARP hop speaking HTTP/2 to the gateway) carries the WebSocket as RFC 8441 CONNECT.
        middlebox.BlockWebSockets = false;
        await log.WaitForAsync("back to a WebSocket");
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);
        Assert.Equal("websocket", registry.FindByToken(token)!.Session!.TransportName);
        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Fact]
    public async Task Lost_poll_answers_and_lost_send_answers_lose_and_duplicate_nothing()
    {
        var polls = 0;
        var sends = 0;
        await using var middlebox = await Middlebox.StartAsync(fixture.Certificate, fixture.GatewayAddress, blockWebSockets: true, loseAnswer: context =>
            context.Request.Path.Value!.EndsWith("/poll", StringComparison.Ordinal) ? Interlocked.Increment(ref polls) % 4 == 0
            : context.Request.Path.Value!.EndsWith("/send", StringComparison.Ordinal) && Interlocked.Increment(ref sends) % 5 == 0);
        var token = "lossy-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(middlebox.Address), token,
            fixture.Backend.Address, fixture.Certificate.CaFile, o => o.Transport = AgentTransport.LongPoll);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);

        var ids = Enumerable.Range(0, 30).Select(_ => Guid.NewGuid().ToString("N")).ToArray();
        var counted = Task.WhenAll(ids.Select(async (id, i) =>
        {
            using var content = new ByteArrayContent(new byte[i * 1000]);
            using var response = await fixture.Client.PostAsync($"/_token/{token}/count/{id}", content);
            return await response.Content.ReadAsStringAsync();
        }));
        var downloads = Task.WhenAll(Enumerable.Range(0, 3).Select(_ => fixture.Client.GetByteArrayAsync($"/_token/{token}/bytes/3000000")));
        var upload = RandomNumberGenerator.GetBytes(3_000_000);
        using var uploadContent = new ByteArrayContent(upload);
        var uploaded = fixture.Client.PostAsync($"/_token/{token}/upload", uploadContent);

        Assert.Equal(ids.Select((id, i) => $"counted {id} {i * 1000}"), await counted);
        Assert.All(await downloads, body => Assert.Equal(Backend.ExpectedHash(3_000_000), Convert.ToHexStringLower(SHA256.HashData(body))));
        Assert.Equal($"3000000 {Convert.ToHexStringLower(SHA256.HashData(upload))}", await (await uploaded).Content.ReadAsStringAsync());
        Assert.All(ids, id => Assert.Equal(1, fixture.Backend.Counts[id]));

        // The faults really happened, on answers that carried tunnel bytes.
        Assert.True(middlebox.Dropped >= 4, $"only {middlebox.Dropped} answers were lost");
        Assert.True(middlebox.DroppedBytes > 0, "no lost poll answer carried bytes");
    }

    [Fact]
    public async Task The_agent_long_polls_through_an_HTTP_CONNECT_proxy()
    {
        using var proxy = await TinyProxy.StartAsync();
        var token = "longpoll-proxied-" + Guid.NewGuid().ToString("N");
        await fixture.StartAgentAsync(token, fixture.Backend.Address, o =>
        {
            o.Transport = AgentTransport.LongPoll;
            o.Proxy = new Uri($"http://127.0.0.1:{proxy.Port}");
        });

        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{token}/status/200"));
        Assert.Contains("CONNECT", proxy.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_poll_returns_before_the_poll_timeout()
    {
        await using var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address,
            builder => builder.Configuration["WStunnel:LongPollTimeout"] = "00:00:00.300");
        var address = TunnelFixture.AddressOf(gateway);
        var token = "short-polls-" + Guid.NewGuid().ToString("N");
        using var client = fixture.Certificate.CreateClient(address);
        using var connect = new HttpRequestMessage(HttpMethod.Post, "/_tunnel/connect");
        connect.Headers.Add("X-WStunnel-Token", token);
        using var connected = await client.SendAsync(connect);
        Assert.Equal("300", connected.Headers.GetValues("X-WStunnel-Poll-Timeout").Single());

        using var poll = new HttpRequestMessage(HttpMethod.Post, "/_tunnel/poll");
        poll.Headers.Add("X-WStunnel-Token", token);
        poll.Headers.Add("X-WStunnel-Connection", connected.Headers.GetValues("X-WStunnel-Connection").Single());
        poll.Headers.Add("X-WStunnel-Offset", "0");
        using var answer = await client.SendAsync(poll).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("0", answer.Headers.GetValues("X-WStunnel-Offset").Single());
    }

    [Fact]
    public async Task A_poll_for_an_unknown_connection_or_with_another_token_is_refused()
    {
        var token = "owner-" + Guid.NewGuid().ToString("N");
        using var connect = new HttpRequestMessage(HttpMethod.Post, "/_tunnel/connect");
        connect.Headers.Add("X-WStunnel-Token", token);
        using var connected = await fixture.Client.SendAsync(connect);
        var id = connected.Headers.GetValues("X-WStunnel-Connection").Single();

        foreach (var (presentedToken, presentedId) in new[] { ("intruder-" + Guid.NewGuid().ToString("N"), id), (token, "no-such-connection") })
        {
            using var poll = new HttpRequestMessage(HttpMethod.Post, "/_tunnel/poll");
            poll.Headers.Add("X-WStunnel-Token", presentedToken);
            poll.Headers.Add("X-WStunnel-Connection", presentedId);
            poll.Headers.Add("X-WStunnel-Offset", "0");
            using var answer = await fixture.Client.SendAsync(poll);
            Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        }
    }
}
