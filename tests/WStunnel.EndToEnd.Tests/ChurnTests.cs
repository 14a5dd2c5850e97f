using WStunnel.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// A tunnel that breaks over and over must not leak: the real gateway and agent run as their own
/// processes (so other tests running meanwhile do not blur the figures), and the link between them
/// is reset hundreds of times while requests flow.
/// </summary>
public sealed class ChurnTests(TunnelFixture fixture, ITestOutputHelper output) : IClassFixture<TunnelFixture>
{
    private const int Warmup = 50;
    private const int Cycles = 500;

    [Fact]
    public async Task Five_hundred_reconnects_under_light_load_lose_no_request_and_leave_no_growth_in_descriptors_threads_or_memory()
    {
        // Hundreds of registrations a minute from one address are the point here, not abuse.
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, new { RateLimits = new { RegistrationsPerMinute = 0 } });
        await using var relay = FaultRelay.Start(gateway.Address.Port);
        var token = "churn-" + Guid.NewGuid().ToString("N");
        using var agent = CliProcess.Start(
            ["agent", "--server", $"wss://127.0.0.1:{relay.Port}", "--ca-cert", fixture.Certificate.CaFile, "--target", fixture.Backend.Address.ToString(), "--transport", "websocket"],
            new Dictionary<string, string>
            {
                ["WSTUNNEL_TOKEN"] = token,
                ["WSTUNNEL__WStunnelAgent__ReconnectDelay"] = "00:00:00.001",
                ["WSTUNNEL__WStunnelAgent__MaxReconnectDelay"] = "00:00:00.005",
            });
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        client.Timeout = TimeSpan.FromSeconds(30);
        await agent.WaitForOutputAsync("Tunnel open", TimeSpan.FromMinutes(1));

        await CycleAsync(relay, client, token, Warmup);
        await Task.Delay(1000);
        var gatewayBefore = ProcessGauge.Read(gateway.Process.Id);
        var agentBefore = ProcessGauge.Read(agent.Id);

        // Light load beside the cycles: one client sending request after request, every one of which must succeed.
        using var stop = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            var served = 0;
            while (!stop.IsCancellationRequested)
            {
                Assert.Equal(4096, (await client.GetByteArrayAsync($"/_token/{token}/bytes/4096")).Length);
                served++;
            }

            return served;
        });
        await CycleAsync(relay, client, token, Cycles);
        await stop.CancelAsync();
        var served = await load;

        await Task.Delay(2000); // let closed connections and idle pool threads go
        var gatewayAfter = ProcessGauge.Read(gateway.Process.Id);
        var agentAfter = ProcessGauge.Read(agent.Id);
        output.WriteLine($"{Cycles} cycles, {served} requests beside them");
        output.WriteLine($"gateway: {gatewayBefore} → {gatewayAfter}");
        output.WriteLine($"agent:   {agentBefore} → {agentAfter}");

        // Loose bounds: noise is a few descriptors, threads and MiB; a leak per cycle would be hundreds.
        AssertNoGrowth("gateway", gatewayBefore, gatewayAfter);
        AssertNoGrowth("agent", agentBefore, agentAfter);
        Assert.False(gateway.Process.HasExited);
        Assert.False(agent.HasExited);
    }

    private static async Task CycleAsync(FaultRelay relay, HttpClient client, string token, int cycles)
    {
        for (var i = 0; i < cycles; i++)
        {
            await relay.ResetAndWaitForNewLinkAsync();
            Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
        }
    }

    private static void AssertNoGrowth(string name, ProcessGauge before, ProcessGauge after)
    {
        Assert.True(after.Descriptors <= before.Descriptors + 20, $"{name}: descriptors {before.Descriptors} → {after.Descriptors}");
        Assert.True(after.Threads <= before.Threads + 20, $"{name}: threads {before.Threads} → {after.Threads}");
        Assert.True(after.ResidentBytes <= before.ResidentBytes + (64L << 20), $"{name}: resident memory {before} → {after}");
    }
}
