using System.Text.Json;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The gateway's configuration file changes while it runs: YARP's routes and WStunnel's tunnels apply
/// at once, WStunnel's other settings at the next start — and the log says so, and says when the next
/// start would fail.
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

        Assert.Contains("they apply at the next start", await gateway.Process.WaitForOutputAsync("[1027]", Patience), StringComparison.Ordinal);
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Fact]
    public async Task Rate_limits_and_the_admission_of_unlisted_tokens_change_at_once_without_a_restart()
    {
        var listed = "live-listed-" + Guid.NewGuid().ToString("N");
        var settings = new Dictionary<string, object> { ["RateLimits"] = new { UnknownTokenRequestsPerMinute = 0 } };
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, settings: settings);
        await using var agent = await StartAgentAsync(gateway, listed, secret: null, new ListLogger(), waitForTunnel: true);
        using var client = fixture.Certificate.CreateClient(gateway.Address);

        settings["RateLimits"] = new { UnknownTokenRequestsPerMinute = 2 };
        settings["AllowUnlistedTokens"] = false;
        settings["Tunnels"] = new { listed = new { Token = listed } };
        await RewriteAsync(gateway, new { WStunnel = settings });

        var applied = await gateway.Process.WaitForOutputAsync("[1033]", Patience);
        Assert.Contains("WStunnel:RateLimits", applied, StringComparison.Ordinal);
        Assert.Contains("WStunnel:AllowUnlistedTokens", applied, StringComparison.Ordinal);
        var unknown = "/_token/unknown-" + Guid.NewGuid().ToString("N") + "/";
        var answers = new List<System.Net.HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync(unknown);
            answers.Add(response.StatusCode);
        }

        Assert.Equal([System.Net.HttpStatusCode.NotFound, System.Net.HttpStatusCode.NotFound, System.Net.HttpStatusCode.TooManyRequests], answers);
        var refusedLog = new ListLogger();
        await using var unlisted = await StartAgentAsync(gateway, "live-unlisted-" + Guid.NewGuid().ToString("N"), secret: null, refusedLog, waitForTunnel: false);
        Assert.Contains("403", await refusedLog.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{listed}/status/200"));
        Assert.DoesNotContain("[1027]", gateway.Process.Output, StringComparison.Ordinal);
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

    [Fact]
    public async Task A_tunnel_and_its_route_added_to_the_file_serve_at_once_while_other_tunnels_keep_their_sessions()
    {
        var first = "first-tunnel-" + Guid.NewGuid().ToString("N");
        var late = "late-tunnel-" + Guid.NewGuid().ToString("N");
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, settings: Locked(("first", first, null)));
        var firstLog = new ListLogger();
        await using var firstAgent = await StartAgentAsync(gateway, first, secret: null, firstLog, waitForTunnel: true);
        var lateLog = new ListLogger();
        await using var lateAgent = await StartAgentAsync(gateway, late, secret: null, lateLog, waitForTunnel: false);
        Assert.Contains("403", await lateLog.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal); // not configured yet

        await RewriteAsync(gateway, new
        {
            WStunnel = Locked(("first", first, null), ("late", late, null)),
            ReverseProxy = Route("late"),
        });

        Assert.Contains("Tunnel late added", await gateway.Process.WaitForOutputAsync("[1029]", Patience), StringComparison.Ordinal);
        await lateAgent.WaitForTunnelAsync(); // its next attempt is admitted
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        Assert.Equal("status 200", await GetOnceRoutedAsync(client, "/late/status/200")); // YARP applies its new routes on its own schedule
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{first}/status/200"));
        Assert.Single(firstLog.Lines, line => line.Contains("Tunnel open", StringComparison.Ordinal)); // untouched
        Assert.DoesNotContain("[1027]", gateway.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tunnel_whose_secret_changes_asks_its_agent_back_and_admits_only_the_new_secret()
    {
        var token = "rotated-tunnel-" + Guid.NewGuid().ToString("N");
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, settings: Locked(("rotated", token, "old-secret-0123456789")));
        var oldLog = new ListLogger();
        await using var oldAgent = await StartAgentAsync(gateway, token, "old-secret-0123456789", oldLog, waitForTunnel: true);

        await RewriteAsync(gateway, new { WStunnel = Locked(("rotated", token, "new-secret-0123456789")) });

        await gateway.Process.WaitForOutputAsync("[1030]", Patience);
        Assert.Contains("403", await oldLog.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal); // asked back, and refused
        await using var newAgent = await StartAgentAsync(gateway, token, "new-secret-0123456789", new ListLogger(), waitForTunnel: true);
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Fact]
    public async Task A_request_waiting_for_a_tunnel_when_its_secret_changes_is_served_by_the_agent_that_has_the_new_one()
    {
        var token = "waiting-tunnel-" + Guid.NewGuid().ToString("N");
        var settings = Locked(("waiting", token, "old-secret-0123456789"));
        settings["Queue"] = new { Timeout = "00:02:00" };
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, settings: settings);
        await (await StartAgentAsync(gateway, token, "old-secret-0123456789", new ListLogger(), waitForTunnel: true)).DisposeAsync();
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        await WaitForDisconnectAsync(client);
        var waiting = client.GetStringAsync($"/_token/{token}/status/200"); // queues: its agent left a moment ago
        await WaitForQueuedAsync(client);

        var rewritten = settings;
        rewritten["Tunnels"] = Locked(("waiting", token, "new-secret-0123456789"))["Tunnels"];
        await RewriteAsync(gateway, new { WStunnel = rewritten });
        await gateway.Process.WaitForOutputAsync("[1030]", Patience);
        await using var newAgent = await StartAgentAsync(gateway, token, "new-secret-0123456789", new ListLogger(), waitForTunnel: true);

        Assert.Equal("status 200", await waiting.WaitAsync(Patience));
    }

    [Fact]
    public async Task A_request_waiting_for_a_token_addressed_tunnel_is_served_when_the_file_makes_that_token_a_named_tunnel()
    {
        var token = "adopted-tunnel-" + Guid.NewGuid().ToString("N");
        var settings = new Dictionary<string, object> { ["Queue"] = new { Timeout = "00:02:00" } };
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, settings: settings);
        await (await StartAgentAsync(gateway, token, secret: null, new ListLogger(), waitForTunnel: true)).DisposeAsync();
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        await WaitForDisconnectAsync(client);
        var waiting = client.GetStringAsync($"/_token/{token}/status/200"); // queues: its agent left a moment ago
        await WaitForQueuedAsync(client);

        settings["Tunnels"] = new { adopted = new { Token = token } };
        await RewriteAsync(gateway, new { WStunnel = settings });
        await gateway.Process.WaitForOutputAsync("[1029]", Patience);
        await using var agent = await StartAgentAsync(gateway, token, secret: null, new ListLogger(), waitForTunnel: true);

        Assert.Equal("status 200", await waiting.WaitAsync(Patience));
        Assert.DoesNotContain("[1032]", gateway.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tunnel_removed_from_the_file_lets_its_agent_go()
    {
        var token = "removed-tunnel-" + Guid.NewGuid().ToString("N");
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, settings: Locked(("removed", token, null)));
        var log = new ListLogger();
        await using var agent = await StartAgentAsync(gateway, token, secret: null, log, waitForTunnel: true);

        await RewriteAsync(gateway, new { WStunnel = Locked() });

        await gateway.Process.WaitForOutputAsync("[1031]", Patience);
        Assert.Contains("403", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await client.GetAsync($"/_token/{token}/status/200")).StatusCode);
    }

    [Fact]
    public async Task A_request_waiting_for_a_tunnel_the_file_removes_is_answered_502_at_once_not_after_the_queue_timeout()
    {
        var token = "removed-waiting-" + Guid.NewGuid().ToString("N");
        var settings = Locked(("leaving", token, null));
        settings["Queue"] = new { Timeout = "00:05:00" };
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, settings: settings);
        await (await StartAgentAsync(gateway, token, secret: null, new ListLogger(), waitForTunnel: true)).DisposeAsync();
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        await WaitForDisconnectAsync(client);
        var waiting = client.GetAsync($"/_token/{token}/status/200"); // queues: its agent left a moment ago
        await WaitForQueuedAsync(client);

        var rewritten = settings;
        rewritten["Tunnels"] = Locked()["Tunnels"];
        await RewriteAsync(gateway, new { WStunnel = rewritten });

        using var response = await waiting.WaitAsync(Patience);
        Assert.Equal(System.Net.HttpStatusCode.BadGateway, response.StatusCode);
        await gateway.Process.WaitForOutputAsync("[1032]", Patience);
        await WaitForStatusAsync(client, json => json.RootElement.GetProperty("queued").GetInt32() == 0, "the line to be empty");
    }

    [Fact]
    public async Task An_agent_secret_rotated_in_its_files_applies_on_SIGHUP_and_the_agent_comes_back_with_the_new_one_without_a_restart()
    {
        var token = "rotated-files-" + Guid.NewGuid().ToString("N");
        using var files = new TemporaryDirectory();
        var gatewaySecret = files.WriteFile("gateway-secret", "old-secret-0123456789\n");
        var agentSecret = files.WriteFile("agent-secret", "old-secret-0123456789\n");
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, settings: new Dictionary<string, object>
        {
            ["AllowUnlistedTokens"] = false,
            ["Tunnels"] = new { rotated = new { Token = token, AgentSecretFile = gatewaySecret } },
        });
        var log = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(
            TunnelFixture.AgentServer(gateway.Address), token, fixture.Backend.Address, fixture.Certificate.CaFile, o => o.SecretFile = agentSecret, waitForTunnel: true, log);

        await File.WriteAllTextAsync(agentSecret, "new-secret-0123456789\n"); // read at the agent's next connection
        await File.WriteAllTextAsync(gatewaySecret, "new-secret-0123456789\n");
        Signals.HangUp(gateway.Process.Id);

        await gateway.Process.WaitForOutputAsync("[3006]", Patience);
        await gateway.Process.WaitForOutputAsync("[1030]", Patience); // the agent is asked back…
        await log.WaitForAsync("Agent secret changed"); // …and comes back with the new secret
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200").WaitAsync(Patience));
        Assert.Equal(1, await ConnectedAgentsAsync(client));
        var oldLog = new ListLogger();
        await using var withOldSecret = await StartAgentAsync(gateway, token, "old-secret-0123456789", oldLog, waitForTunnel: false);
        Assert.Contains("403", await oldLog.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        Assert.DoesNotContain("secret-0123456789", gateway.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_broken_configuration_file_is_named_when_saved_and_on_SIGHUP_and_the_tunnels_serve_on()
    {
        var token = "broken-save-" + Guid.NewGuid().ToString("N");
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, settings: Locked(("kept", token, null)));
        await using var agent = await StartAgentAsync(gateway, token, secret: null, new ListLogger(), waitForTunnel: true);

        await File.WriteAllTextAsync(gateway.ConfigFile, "{ \"WStunnel\": { \"Tunnels\": "); // an editor's save cut short
        var seen = await gateway.Process.WaitForOutputAsync("[3010]", Patience); // by the file's watcher…
        Assert.Contains($"'{gateway.ConfigFile}' is not valid JSON", seen, StringComparison.Ordinal);
        Signals.HangUp(gateway.Process.Id); // …and again on SIGHUP

        var refused = await gateway.Process.WaitForOutputAsync("[3007]", Patience);
        Assert.Contains($"'{gateway.ConfigFile}' is not valid JSON", refused, StringComparison.Ordinal);
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
        Assert.DoesNotContain("[1031]", gateway.Process.Output, StringComparison.Ordinal);
    }

    /// <summary>A gateway that admits only its configured tunnels: (name, token, agent secret).</summary>
    private static Dictionary<string, object> Locked(params (string Name, string Token, string? Secret)[] tunnels) => new()
    {
        ["AllowUnlistedTokens"] = false,
        ["Tunnels"] = tunnels.ToDictionary(t => t.Name, t => (object)(t.Secret is null ? new { t.Token } : new { t.Token, AgentSecret = t.Secret })),
    };

    private static object Route(string tunnel) => new
    {
        Routes = new Dictionary<string, object>
        {
            [tunnel] = new { ClusterId = tunnel, Match = new { Path = $"/{tunnel}/{{**rest}}" }, Transforms = new[] { new { PathRemovePrefix = $"/{tunnel}" } } },
        },
        Clusters = new Dictionary<string, object> { [tunnel] = new { Destinations = new { agent = new { Address = $"wstunnel://{tunnel}" } } } },
    };

    private Task<RunningAgent> StartAgentAsync(GatewayProcess gateway, string token, string? secret, ListLogger log, bool waitForTunnel) =>
        RunningAgent.StartAsync(TunnelFixture.AgentServer(gateway.Address), token, fixture.Backend.Address, fixture.Certificate.CaFile, o => o.Secret = secret, waitForTunnel, log);

    /// <summary>The answer to <paramref name="path"/> once the gateway routes it (until then nothing matches it: 404).</summary>
    private static async Task<string> GetOnceRoutedAsync(HttpClient client, string path)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            using var response = await client.GetAsync(path);
            if (response.StatusCode != System.Net.HttpStatusCode.NotFound || DateTime.UtcNow > deadline)
            {
                response.EnsureSuccessStatusCode();
                return await response.Content.ReadAsStringAsync();
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Waits until the gateway's status shows no agent connected (a session may still wait for its agent to resume it).</summary>
    private static Task WaitForDisconnectAsync(HttpClient client) => WaitForStatusAsync(client,
        json => !json.RootElement.GetProperty("tunnels").EnumerateArray().SelectMany(t => t.GetProperty("agents").EnumerateArray()).Any(a => a.GetProperty("connected").GetBoolean()),
        "the agent to be gone");

    private static async Task<int> ConnectedAgentsAsync(HttpClient client)
    {
        using var json = JsonDocument.Parse(await client.GetStringAsync("/_stats/json"));
        return json.RootElement.GetProperty("tunnels").EnumerateArray().SelectMany(t => t.GetProperty("agents").EnumerateArray()).Count(a => a.GetProperty("connected").GetBoolean());
    }

    /// <summary>Waits until the gateway's status shows a request queued.</summary>
    private static Task WaitForQueuedAsync(HttpClient client) => WaitForStatusAsync(client, json => json.RootElement.GetProperty("queued").GetInt32() == 1, "the request to queue");

    private static async Task WaitForStatusAsync(HttpClient client, Func<JsonDocument, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var status = await client.GetStringAsync("/_stats/json");
            using (var json = JsonDocument.Parse(status))
            {
                if (condition(json))
                {
                    return;
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}; the status: {status}");
            }

            await Task.Delay(50);
        }
    }

    private static async Task RewriteAsync(GatewayProcess gateway, object configuration)
    {
        // Renamed into place as editors and deployment tools do, so the gateway never reads half a file.
        var next = gateway.ConfigFile + ".next";
        await File.WriteAllTextAsync(next, JsonSerializer.Serialize(configuration));
        File.Move(next, gateway.ConfigFile, overwrite: true);
    }
}
