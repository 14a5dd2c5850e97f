using System.Text.Json;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The gateway's configuration file changes while it runs: YARP's routes apply at once, the WStunnel
/// section at the next start — and the log says so, and says when the next start would fail.
/// </summary>
public sealed class ConfigurationReloadTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_changed_WStunnel_section_is_reported_as_applying_at_the_next_start_and_the_gateway_serves_on()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, settings: new { HostSuffixes = new[] { "first.test" } });
        var token = "reloaded-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(gateway.Address), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);

        await RewriteAsync(gateway, new { WStunnel = new { HostSuffixes = new[] { "second.test" } } });

        Assert.Contains("applies its settings (tunnels, tokens, limits) at the next start", await gateway.Process.WaitForOutputAsync("[1027]", Patience), StringComparison.Ordinal);
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Fact]
    public async Task A_change_the_next_start_would_refuse_is_named_at_once()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate);

        await RewriteAsync(gateway, new { WStunnel = new { Limits = new { MaxTunnels = 0 } } });

        var error = await gateway.Process.WaitForOutputAsync("[1028]", Patience);
        Assert.Contains("WStunnel:Limits:MaxTunnels must be at least 1 (got 0).", error, StringComparison.Ordinal);
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        Assert.Equal("WSTUNSRV RUNNING", await client.GetStringAsync("/_health_check"));
    }

    [Fact]
    public async Task A_change_elsewhere_in_the_file_says_nothing_about_the_WStunnel_section()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate);

        await RewriteAsync(gateway, new { WStunnel = new { }, Logging = new { LogLevel = new { Default = "Information" } } });
        await Task.Delay(TimeSpan.FromSeconds(1)); // past the file provider's reload delay (250 ms), so the two saves are two reloads
        await RewriteAsync(gateway, new { WStunnel = new { Limits = new { MaxTunnels = 0 } } }); // the marker that reloads are seen

        await gateway.Process.WaitForOutputAsync("[1028]", Patience);
        Assert.DoesNotContain("[1027]", gateway.Process.Output, StringComparison.Ordinal);
    }

    private static async Task RewriteAsync(GatewayProcess gateway, object configuration)
    {
        // Renamed into place as editors and deployment tools do, so the gateway never reads half a file.
        var next = gateway.ConfigFile + ".next";
        await File.WriteAllTextAsync(next, JsonSerializer.Serialize(configuration));
        File.Move(next, gateway.ConfigFile, overwrite: true);
    }
}
