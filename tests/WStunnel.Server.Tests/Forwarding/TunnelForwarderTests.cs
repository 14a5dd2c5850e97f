using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Http;
using WStunnel.Protocol.Session;
using WStunnel.Server.Forwarding;
using WStunnel.Server.Tests.Diagnostics;
using WStunnel.Server.Registry;
using WStunnel.Server.Tests.Registry;

namespace WStunnel.Server.Tests.Forwarding;

/// <summary>The forwarder's clocks (queue timeout, retention, request timeout) on a fake time line.</summary>
public sealed class TunnelForwarderTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly FakeTimeProvider _time = new();
    private readonly WStunnelOptions _options = new();
    private RecordedMetrics? _recorded;

    public TunnelForwarderTests() => _options.Tunnels["build"] = new WStunnelTunnelOptions { Token = "build-token-0123456789" };

    public void Dispose() => _recorded?.Dispose();

    [Fact]
    public async Task A_forwarded_request_is_counted_with_its_bytes_both_ways_in_the_tunnel_and_in_the_metrics()
    {
        var forwarder = await GatewayWithAgentAsync(async stream =>
        {
            var buffer = new byte[64];
            while (await stream.ReadAsync(buffer, default) > 0)
            {
            }

            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            await stream.WriteAsync("twelve bytes"u8.ToArray(), default);
            stream.Complete();
        });
        using var request = Get();
        request.Method = HttpMethod.Post;
        request.Content = new ByteArrayContent(new byte[5]);

        using var response = await forwarder.SendAsync(request, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal("twelve bytes", await response.Content.ReadAsStringAsync());

        var traffic = _registry!.FindByName("build")!.Traffic;
        Assert.Equal(1, traffic.Requests);
        Assert.Equal(0, traffic.Errors);
        Assert.Equal(12, traffic.BytesFromAgent);
        await Eventually(() => traffic.BytesToAgent == 5);
        Assert.Equal(1, _recorded!.Total("wstunnel.gateway.requests", "wstunnel.outcome=forwarded"));
        Assert.Equal(12, _recorded.Total("wstunnel.gateway.bytes", "wstunnel.direction=from_agent"));
        Assert.Equal(5, _recorded.Total("wstunnel.gateway.bytes", "wstunnel.direction=to_agent"));
    }

    [Fact]
    public async Task A_request_that_times_out_in_the_queue_counts_as_an_error_of_its_tunnel()
    {
        var (forwarder, _, tunnel) = await GatewayWithAgentThatLeftAsync();

        var response = forwarder.SendAsync(Get(), CancellationToken.None);
        _time.Advance(_options.Queue.Timeout);
        Assert.Equal(HttpStatusCode.GatewayTimeout, (await response.WaitAsync(Patience)).StatusCode);

        Assert.Equal(1, tunnel.Traffic.Errors);
        Assert.Equal(1, _recorded!.Total("wstunnel.gateway.requests", "wstunnel.outcome=timeout"));
    }

    private static async Task Eventually(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    [Fact]
    public async Task A_request_for_an_agent_that_just_left_waits_until_the_queue_timeout_then_gets_504()
    {
        var (forwarder, _, _) = await GatewayWithAgentThatLeftAsync();

        var response = forwarder.SendAsync(Get(), CancellationToken.None);
        _time.Advance(_options.Queue.Timeout - TimeSpan.FromSeconds(1));
        await Task.Delay(100);
        Assert.False(response.IsCompleted);

        _time.Advance(TimeSpan.FromSeconds(1));
        var answer = await response.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.GatewayTimeout, answer.StatusCode);
        Assert.Contains("did not come back", await answer.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_waiting_request_goes_to_the_agent_that_comes_back_before_the_queue_timeout()
    {
        var (forwarder, registry, tunnel) = await GatewayWithAgentThatLeftAsync();

        var response = forwarder.SendAsync(Get(), CancellationToken.None);
        _time.Advance(_options.Queue.Timeout - TimeSpan.FromSeconds(1));
        var back = await SessionFactory.AvailableSessionAsync(Answer(HttpStatusCode.Accepted));
        registry.AddSession(tunnel, back, LocalAgent);
        tunnel.Attach(back);

        Assert.Equal(HttpStatusCode.Accepted, (await response.WaitAsync(Patience)).StatusCode);
    }

    [Fact]
    public async Task While_the_gateway_stops_a_request_for_an_agent_that_just_left_gets_503_at_once()
    {
        var (forwarder, registry, _) = await GatewayWithAgentThatLeftAsync();
        registry.Stop();

        var answer = await forwarder.SendAsync(Get(), CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        Assert.Contains("shutting down", await answer.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task When_the_gateway_begins_to_stop_a_waiting_request_gets_503_without_waiting_for_the_queue_timeout()
    {
        var (forwarder, registry, _) = await GatewayWithAgentThatLeftAsync();
        var response = forwarder.SendAsync(Get(), CancellationToken.None);
        await Task.Delay(100);
        Assert.False(response.IsCompleted);

        registry.Stop();

        var answer = await response.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        Assert.Equal(0, registry.QueuedRequests);
    }

    [Fact]
    public async Task After_the_retention_period_a_request_for_an_agent_that_left_fails_at_once()
    {
        var (forwarder, _, _) = await GatewayWithAgentThatLeftAsync();
        _time.Advance(_options.Queue.RetentionAfterDisconnect + TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<TunnelUnavailableException>(() => forwarder.SendAsync(Get(), CancellationToken.None)).WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.BadGateway, error.StatusCode);
    }

    [Fact]
    public async Task The_request_timeout_answers_504_when_the_response_has_not_started_and_cancels_the_agents_request()
    {
        _options.RequestTimeout = TimeSpan.FromSeconds(30);
        var agentSawCancel = new TaskCompletionSource();
        var forwarder = await GatewayWithAgentAsync(stream =>
        {
            stream.Aborted.Register(() => agentSawCancel.TrySetResult());
            return Task.CompletedTask; // never answers
        });

        var response = forwarder.SendAsync(Get(), CancellationToken.None);
        await Task.Delay(100);
        Assert.False(response.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(30));

        var answer = await response.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.GatewayTimeout, answer.StatusCode);
        Assert.Contains("request timeout", await answer.Content.ReadAsStringAsync());
        await agentSawCancel.Task.WaitAsync(Patience);
    }

    [Fact]
    public async Task The_request_timeout_cuts_off_a_response_body_still_running()
    {
        _options.RequestTimeout = TimeSpan.FromSeconds(30);
        var forwarder = await GatewayWithAgentAsync(async stream =>
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            await stream.WriteAsync(new byte[] { 1, 2, 3 }, stream.Aborted); // and never ends
        });

        var answer = await forwarder.SendAsync(Get(), CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var body = await answer.Content.ReadAsStreamAsync();
        var buffer = new byte[16];
        Assert.Equal(3, await body.ReadAsync(buffer).AsTask().WaitAsync(Patience));
        var next = body.ReadAsync(buffer).AsTask();

        _time.Advance(TimeSpan.FromSeconds(30));
        await Assert.ThrowsAsync<TunnelStreamException>(() => next.WaitAsync(Patience));
    }

    [Fact]
    public async Task Without_a_request_timeout_a_slow_response_is_left_alone()
    {
        var answered = new TaskCompletionSource();
        var forwarder = await GatewayWithAgentAsync(async stream =>
        {
            await answered.Task;
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: true);
        });

        var response = forwarder.SendAsync(Get(), CancellationToken.None);
        _time.Advance(TimeSpan.FromDays(1));
        await Task.Delay(100);
        Assert.False(response.IsCompleted);

        answered.SetResult();
        Assert.Equal(HttpStatusCode.OK, (await response.WaitAsync(Patience)).StatusCode);
    }

    [Fact]
    public async Task An_upgrade_keeps_the_request_half_open_and_a_101_gives_YARP_a_two_way_stream()
    {
        var agentSaw = new TaskCompletionSource<(string? Upgrade, bool RequestHalfOpen)>();
        var forwarder = await GatewayWithAgentAsync(async stream =>
        {
            agentSaw.SetResult((HttpUpgrade.Of(stream.RequestHead!.Headers), stream.RequestHasBody));
            stream.SendResponseHead(new ResponseHead { StatusCode = 101, Headers = [new("Upgrade", "websocket"), new("Sec-WebSocket-Accept", "abc")] }, endStream: false);
            var buffer = new byte[64];
            int read;
            while ((read = await stream.ReadAsync(buffer, default)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read), default); // an echoing target
            }

            stream.Complete();
        }, SessionFeatures.Upgrades);

        using var response = await forwarder.SendAsync(Upgrade(), CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(("websocket", true), await agentSaw.Task.WaitAsync(Patience));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, response.StatusCode);
        Assert.Equal("websocket", HttpUpgrade.Requested(response.Headers)); // YARP restores Connection and Upgrade from these
        Assert.Equal("abc", Assert.Single(response.Headers.GetValues("Sec-WebSocket-Accept")));
        var connection = await response.Content.ReadAsStreamAsync();
        Assert.True(connection.CanWrite);
        await connection.WriteAsync("ping"u8.ToArray());
        var echoed = new byte[4];
        await connection.ReadExactlyAsync(echoed).AsTask().WaitAsync(Patience);
        Assert.Equal("ping", System.Text.Encoding.ASCII.GetString(echoed));

        // The client is done: the request half ends, the echoing agent ends its half, the stream is freed.
        await connection.DisposeAsync();
        await Eventually(() => _registry!.FindByName("build")!.Session!.ActiveStreams == 0);
        Assert.Equal(1, _recorded!.Total("wstunnel.gateway.requests", "wstunnel.outcome=forwarded"));
    }

    [Fact]
    public async Task An_upgrade_the_agent_does_not_announce_goes_as_a_plain_request_the_server_may_answer()
    {
        var agentSaw = new TaskCompletionSource<(string? Upgrade, bool RequestHalfOpen)>();
        var forwarder = await GatewayWithAgentAsync(stream =>
        {
            agentSaw.SetResult((HttpUpgrade.Of(stream.RequestHead!.Headers), stream.RequestHasBody));
            stream.SendResponseHead(new ResponseHead { StatusCode = 426 }, endStream: true);
            return Task.CompletedTask;
        });

        using var response = await forwarder.SendAsync(Upgrade(), CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(((string?)null, false), await agentSaw.Task.WaitAsync(Patience));
        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
    }

    [Fact]
    public async Task An_upgrade_answered_without_101_ends_the_request_half_so_the_stream_is_freed()
    {
        var requestHalfEnded = new TaskCompletionSource<int>();
        var forwarder = await GatewayWithAgentAsync(async stream =>
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = 403 }, endStream: true);
            requestHalfEnded.SetResult(await stream.ReadAsync(new byte[16], default));
        }, SessionFeatures.Upgrades);

        using var response = await forwarder.SendAsync(Upgrade(), CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(0, await requestHalfEnded.Task.WaitAsync(Patience));
        await Eventually(() => _registry!.FindByName("build")!.Session!.ActiveStreams == 0);
    }

    [Fact]
    public async Task A_101_for_a_request_that_asked_for_no_upgrade_fails_it_as_a_bad_gateway()
    {
        var forwarder = await GatewayWithAgentAsync(stream =>
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = 101, Headers = [new("Upgrade", "websocket")] }, endStream: false);
            return Task.CompletedTask;
        }, SessionFeatures.Upgrades);

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => forwarder.SendAsync(Get(), CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(HttpStatusCode.BadGateway, error.StatusCode);
        await Eventually(() => _registry!.FindByName("build")!.Session!.ActiveStreams == 0);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(103)]
    [InlineData(199)]
    public async Task An_informational_status_as_the_response_fails_it_as_a_bad_gateway(int status)
    {
        var forwarder = await GatewayWithAgentAsync(async stream =>
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = status }, endStream: false);
            await stream.WriteAsync("body"u8.ToArray(), default);
            stream.Complete();
        });

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => forwarder.SendAsync(Get(), CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(HttpStatusCode.BadGateway, error.StatusCode);
        Assert.Contains($"informational status {status}", error.Message, StringComparison.Ordinal);
        await Eventually(() => _registry!.FindByName("build")!.Session!.ActiveStreams == 0);
    }

    [Fact]
    public async Task An_HTTP_2_WebSocket_from_a_cluster_that_forces_HTTP_2_fails_with_a_message_naming_the_setting()
    {
        var forwarder = await GatewayWithAgentAsync(_ => Task.CompletedTask, SessionFeatures.Upgrades);
        using var request = new HttpRequestMessage(HttpMethod.Connect, "wstunnel://build/chat") { Version = HttpVersion.Version20 };
        request.Headers.Protocol = "websocket";

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => forwarder.SendAsync(request, CancellationToken.None));
        Assert.Equal(HttpStatusCode.BadGateway, error.StatusCode);
        Assert.Contains("HttpRequest:Version", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, _recorded!.Total("wstunnel.gateway.requests", "wstunnel.outcome=refused"));
    }

    private static HttpRequestMessage Upgrade()
    {
        var request = Get();
        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        return request;
    }

    private static readonly AgentIdentity LocalAgent = new("address:127.0.0.1", IPAddress.Loopback, null);

    private async Task<(TunnelForwarder Forwarder, TunnelRegistry Registry, TunnelEntry Tunnel)> GatewayWithAgentThatLeftAsync()
    {
        var registry = new TunnelRegistry(Options.Create(_options), _time);
        var tunnel = registry.FindByName("build")!;
        var session = await SessionFactory.AvailableSessionAsync();
        registry.AddSession(tunnel, session, LocalAgent);
        tunnel.Attach(session);
        registry.Detach(tunnel, session);
        return (Forwarder(registry), registry, tunnel);
    }

    private async Task<TunnelForwarder> GatewayWithAgentAsync(Func<TunnelStream, Task> agent, SessionFeatures agentFeatures = SessionFeatures.None)
    {
        var registry = new TunnelRegistry(Options.Create(_options), _time);
        var tunnel = registry.FindByName("build")!;
        var session = await SessionFactory.AvailableSessionAsync(agent, agentFeatures);
        registry.AddSession(tunnel, session, LocalAgent);
        tunnel.Attach(session);
        return Forwarder(registry);
    }

    private TunnelRegistry? _registry;

    private TunnelForwarder Forwarder(TunnelRegistry registry)
    {
        _registry = registry;
        _recorded?.Dispose();
        _recorded = new RecordedMetrics(registry);
        return new TunnelForwarder(registry, _recorded.Metrics, Options.Create(_options), _time, NullLogger<TunnelForwarder>.Instance);
    }

    private static Func<TunnelStream, Task> Answer(HttpStatusCode status) => stream =>
    {
        stream.SendResponseHead(new ResponseHead { StatusCode = (int)status }, endStream: true);
        return Task.CompletedTask;
    };

    private static HttpRequestMessage Get() => new(HttpMethod.Get, "wstunnel://build/work");
}
