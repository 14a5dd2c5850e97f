using System.Net;
using System.Net.Sockets;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using WStunnel.Agent.Diagnostics;
using WStunnel.Server.Tests.Diagnostics;

namespace WStunnel.Agent.Tests;

/// <summary>The agent's reconnect loop, on a fake clock, against a gateway that is not there or that refuses it.</summary>
public sealed class TunnelAgentTests
{
    [Fact]
    public async Task An_agent_that_cannot_reach_the_gateway_waits_out_each_backoff_delay_and_never_gives_up()
    {
        var options = new WStunnelAgentOptions
        {
            Server = new Uri($"wss://127.0.0.1:{ClosedPort()}"),
            Token = "0123456789abcdef-agent",
            Transport = AgentTransport.WebSocket,
            ReconnectDelay = TimeSpan.FromSeconds(10),
            MaxReconnectDelay = TimeSpan.FromSeconds(10),
        };
        await using var agent = new AgentRun(options);
        var (log, time) = (agent.Log, agent.Time);

        for (var attempt = 1; attempt <= 5; attempt++)
        {
            await log.WaitForAsync(l => l.Count(line => line.StartsWith("Reconnecting in", StringComparison.Ordinal)) == attempt);
            Assert.Equal(attempt, log.Count("Connecting to"));
            Assert.Equal(attempt, log.Count("Could not open the tunnel"));

            // Nothing happens until the clock moves: the loop sleeps on the time provider it was given.
            await Task.Delay(100);
            Assert.Equal(attempt, log.Count("Connecting to"));
            time.Advance(options.MaxReconnectDelay);
            await log.WaitForAsync(l => l.Count(line => line.StartsWith("Connecting to", StringComparison.Ordinal)) == attempt + 1);
        }

        Assert.False(agent.Run.IsCompleted, "the agent must not stop for a network failure");
        Assert.DoesNotContain(log.Lines, line => line.Contains(options.Token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task In_auto_mode_a_gateway_that_refuses_the_connection_is_not_tried_over_long_poll_too()
    {
        await using var agent = new AgentRun(new WStunnelAgentOptions
        {
            Server = new Uri($"wss://127.0.0.1:{ClosedPort()}"),
            Token = "0123456789abcdef-agent",
            Transport = AgentTransport.Auto,
        });
        var log = agent.Log;

        // Long-poll would reach the same host and port: refused alike, it would only double the attempts and the log.
        await agent.FirstWaitAsync();
        Assert.Equal(1, log.Count("Could not open the tunnel to wss://"));
        Assert.Equal(0, log.Count("Could not open the tunnel to https://"));
        Assert.DoesNotContain(log.Lines, line => line.Contains("falling back to HTTPS long-poll", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(AgentTransport.Auto, 429)]
    [InlineData(AgentTransport.WebSocket, 503)]
    [InlineData(AgentTransport.LongPoll, 429)]
    [InlineData(AgentTransport.LongPoll, 503)]
    public async Task A_gateway_that_asks_the_agent_to_wait_is_not_asked_again_sooner(AgentTransport transport, int status)
    {
        await using var gateway = new RefusingGateway(status, retryAfter: "30");
        await using var agent = new AgentRun(new WStunnelAgentOptions
        {
            Server = gateway.Server,
            Token = "0123456789abcdef-agent",
            Transport = transport,
            ReconnectDelay = TimeSpan.FromSeconds(1),
            MaxReconnectDelay = TimeSpan.FromSeconds(60),
        });
        var (log, time) = (agent.Log, agent.Time);

        await agent.FirstWaitAsync();
        var waiting = log.Lines.Single(line => line.StartsWith("Reconnecting in", StringComparison.Ordinal));
        Assert.Contains("the gateway asked the agent to wait 30 s (Retry-After)", waiting, StringComparison.Ordinal);
        Assert.Equal(1, gateway.Requests); // not once more over the other transport: it would be refused alike
        Assert.DoesNotContain(log.Lines, line => line.Contains("falling back to HTTPS long-poll", StringComparison.Ordinal));

        // Its first backoff delay would be under a second; the gateway's 30 s hold, spread by up to a quarter.
        time.Advance(TimeSpan.FromSeconds(29.9));
        await Task.Delay(200);
        Assert.Equal(1, log.Count("Connecting to"));
        time.Advance(TimeSpan.FromSeconds(7.6));
        await log.WaitForAsync(l => l.Count(line => line.StartsWith("Connecting to", StringComparison.Ordinal)) == 2);
    }

    [Fact]
    public async Task A_tunnel_another_agent_serves_is_not_asked_for_again_over_long_poll()
    {
        await using var gateway = new RefusingGateway(409, retryAfter: null, body: "Another agent serves this tunnel.\n");
        await using var agent = new AgentRun(new WStunnelAgentOptions { Server = gateway.Server, Token = "0123456789abcdef-agent", Transport = AgentTransport.Auto });

        await agent.FirstWaitAsync();
        var refused = Assert.Single(agent.Log.Lines, line => line.StartsWith("Could not open the tunnel", StringComparison.Ordinal));
        Assert.Contains("another agent serves this tunnel (409) — its answer: Another agent serves this tunnel.", refused, StringComparison.Ordinal);
        Assert.Equal(1, gateway.Requests);
    }

    [Fact]
    public async Task A_refused_upgrade_still_falls_back_to_long_poll_in_auto_mode()
    {
        await using var gateway = new RefusingGateway(403, retryAfter: null);
        await using var agent = new AgentRun(new WStunnelAgentOptions { Server = gateway.Server, Token = "0123456789abcdef-agent", Transport = AgentTransport.Auto });
        var log = agent.Log;

        // A proxy that refuses WebSockets answers like this; long-poll is what gets through it.
        await agent.FirstWaitAsync();
        Assert.Equal(2, gateway.Requests);
        Assert.Contains(log.Lines, line => line.Contains("falling back to HTTPS long-poll", StringComparison.Ordinal));
        Assert.DoesNotContain(log.Lines, line => line.Contains("Retry-After", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(AgentTransport.WebSocket)]
    [InlineData(AgentTransport.LongPoll)]
    public async Task The_reason_the_gateway_gives_for_a_refusal_is_in_the_agents_log(AgentTransport transport)
    {
        await using var gateway = new RefusingGateway(403, retryAfter: null, body: "The agent secret for this tunnel is missing or wrong.\r\nInjected: line\n");
        await using var agent = new AgentRun(new WStunnelAgentOptions { Server = gateway.Server, Token = "0123456789abcdef-agent", Transport = transport });

        await agent.FirstWaitAsync();
        var refused = Assert.Single(agent.Log.Lines, line => line.StartsWith("Could not open the tunnel", StringComparison.Ordinal));
        Assert.Contains("does not accept this agent or token (403) — its answer: The agent secret for this tunnel is missing or wrong.", refused, StringComparison.Ordinal);
        Assert.DoesNotContain("Injected", refused, StringComparison.Ordinal); // its first line only: nothing it sends can forge a log line
    }

    [Fact]
    public async Task A_page_that_is_not_plain_text_adds_nothing_to_the_log()
    {
        await using var gateway = new RefusingGateway(403, retryAfter: null, body: "<html><body>Blocked by policy</body></html>", contentType: "text/html");
        await using var agent = new AgentRun(new WStunnelAgentOptions { Server = gateway.Server, Token = "0123456789abcdef-agent", Transport = AgentTransport.WebSocket });

        await agent.FirstWaitAsync();
        var refused = Assert.Single(agent.Log.Lines, line => line.StartsWith("Could not open the tunnel", StringComparison.Ordinal));
        Assert.DoesNotContain("its answer", refused, StringComparison.Ordinal);
        Assert.DoesNotContain("Blocked", refused, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(AgentTransport.WebSocket, "https://gateway.example/_tunnel")]
    [InlineData(AgentTransport.Auto, "https://gateway.example/_tunnel")]
    [InlineData(AgentTransport.LongPoll, "https://gateway.example/_tunnel/connect")]
    public async Task A_redirect_is_named_with_where_it_points(AgentTransport transport, string location)
    {
        // As a load balancer answers plain HTTP: the agent follows no redirect, and says where it pointed.
        await using var gateway = new RefusingGateway(301, retryAfter: null, location: location);
        await using var agent = new AgentRun(new WStunnelAgentOptions { Server = gateway.Server, Token = "0123456789abcdef-agent", Transport = transport });

        await agent.FirstWaitAsync();
        var refused = Assert.Single(agent.Log.Lines, line => line.StartsWith("Could not open the tunnel", StringComparison.Ordinal));
        Assert.Contains($"the server redirects the registration (301) to {location}", refused, StringComparison.Ordinal);
        Assert.Equal(1, gateway.Requests); // long-poll's registration, at the same URL, would be sent away alike
    }

    [Theory]
    [InlineData(AgentTransport.WebSocket, 0, "unreachable")]
    [InlineData(AgentTransport.WebSocket, 429, "asked_to_wait")]
    [InlineData(AgentTransport.WebSocket, 301, "redirected")]
    [InlineData(AgentTransport.WebSocket, 403, "refused")]
    [InlineData(AgentTransport.Auto, 403, "refused")] // the WebSocket's refusal and long-poll's: one attempt, one failure
    public async Task Each_failed_attempt_is_counted_once_by_its_reason(AgentTransport transport, int status, string reason)
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var totals = new MeterTotals(factory, AgentMetrics.MeterName);
        await using var gateway = new RefusingGateway(status == 0 ? 503 : status, retryAfter: status == 429 ? "30" : null, location: status == 301 ? "https://gateway.example/_tunnel" : null);
        var server = status == 0 ? new Uri($"ws://127.0.0.1:{ClosedPort()}") : gateway.Server;
        await using var agent = new AgentRun(new WStunnelAgentOptions { Server = server, Token = "0123456789abcdef-agent", Transport = transport }, new AgentMetrics(factory));

        await agent.FirstWaitAsync();
        Assert.Equal(1, totals.Total("wstunnel.agent.connect.failures", $"wstunnel.reason={reason}"));
    }

    /// <summary>An agent running on a fake clock, its log recorded; stopped and awaited when disposed.</summary>
    private sealed class AgentRun : IAsyncDisposable
    {
        private readonly TunnelAgent _agent;
        private readonly CancellationTokenSource _stop = new();

        public AgentRun(WStunnelAgentOptions options, AgentMetrics? metrics = null)
        {
            // Half of each backoff ceiling: a jittered delay under a millisecond would let the agent dial again
            // before the test has read the first attempt (Task.Delay does not wait below one).
            _agent = new TunnelAgent(options, Log, Time, metrics, new HalfwayJitter());
            Run = _agent.RunAsync(_stop.Token);
        }

        public FakeTimeProvider Time { get; } = new();

        public RecordingLogger Log { get; } = new();

        public Task Run { get; }

        /// <summary>Until the first attempt failed and the agent said how long it waits.</summary>
        public Task FirstWaitAsync() => Log.WaitForAsync(l => l.Any(line => line.StartsWith("Reconnecting in", StringComparison.Ordinal)));

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Run.WaitAsync(TimeSpan.FromSeconds(20));
            _agent.Dispose();
            _stop.Dispose();
        }
    }

    /// <summary>A source of jitter that always answers the middle of its range.</summary>
    private sealed class HalfwayJitter : Random
    {
        public override double NextDouble() => 0.5;
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
