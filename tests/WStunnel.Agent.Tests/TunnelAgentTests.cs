using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace WStunnel.Agent.Tests;

/// <summary>The agent's reconnect loop, on a fake clock against a gateway that is not there.</summary>
public sealed class TunnelAgentTests
{
    [Fact]
    public async Task An_agent_that_cannot_reach_the_gateway_waits_out_each_backoff_delay_and_never_gives_up()
    {
        var time = new FakeTimeProvider();
        var log = new RecordingLogger();
        var options = new WStunnelAgentOptions
        {
            Server = new Uri($"wss://127.0.0.1:{ClosedPort()}"),
            Token = "0123456789abcdef-agent",
            Transport = AgentTransport.WebSocket,
            ReconnectDelay = TimeSpan.FromSeconds(10),
            MaxReconnectDelay = TimeSpan.FromSeconds(10),
        };
        using var agent = new TunnelAgent(options, log, time);
        using var stop = new CancellationTokenSource();
        var run = agent.RunAsync(stop.Token);

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

        Assert.False(run.IsCompleted, "the agent must not stop for a network failure");
        Assert.DoesNotContain(log.Lines, line => line.Contains(options.Token, StringComparison.Ordinal));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
