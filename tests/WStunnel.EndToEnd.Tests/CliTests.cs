using System.Buffers;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using WStunnel.Cli;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>The <c>wstunnel</c> command as operators and the quick start use it.</summary>
public sealed class CliTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task The_demo_sends_a_request_through_a_loopback_tunnel_and_prints_curl_commands()
    {
        using var demo = CliProcess.Start(["demo", "--once"]);
        Assert.Equal(0, await demo.WaitForExitAsync(TimeSpan.FromMinutes(2)));
        Assert.Contains("Hello from the backend behind the tunnel! You asked for GET /hello?from=demo", demo.Output, StringComparison.Ordinal);
        Assert.Contains("curl --cacert", demo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_agent_with_a_short_token_exits_with_a_configuration_error_naming_the_setting()
    {
        using var agent = CliProcess.Start(["agent", "--server", "wss://localhost:1", "--token", "short"]);
        Assert.Equal(2, await agent.WaitForExitAsync(TimeSpan.FromMinutes(1)));
        Assert.Contains("Token must be at least 16 characters", agent.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_agent_given_the_token_on_the_command_line_warns_and_never_logs_it()
    {
        var token = "visible-" + Guid.NewGuid().ToString("N");
        using var agent = CliProcess.Start(["agent", "--server", fixture.AgentServerUri.ToString(), "--ca-cert", fixture.Certificate.CaFile, "--target", fixture.Backend.Address.ToString(), "--token", token]);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);
        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{token}/status/200"));
        Assert.Contains("process list", agent.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(token, agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SIGHUP_makes_the_agent_announce_a_rewritten_token_file_and_never_ends_it()
    {
        using var files = new TemporaryDirectory();
        var first = "hangup-first-" + Guid.NewGuid().ToString("N");
        var second = "hangup-second-" + Guid.NewGuid().ToString("N");
        var tokenFile = files.WriteFile("token", first + "\n");
        using var agent = CliProcess.Start(["agent", "--server", fixture.AgentServerUri.ToString(), "--ca-cert", fixture.Certificate.CaFile,
            "--target", fixture.Backend.Address.ToString(), "--token-file", tokenFile]);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, first);

        Signals.HangUp(agent.Id); // nothing changed: the tunnel stays
        await agent.WaitForOutputAsync("[2030]", TimeSpan.FromSeconds(30));
        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{first}/status/200"));

        await File.WriteAllTextAsync(tokenFile, second + "\n");
        Signals.HangUp(agent.Id);
        await agent.WaitForOutputAsync("[2029]", TimeSpan.FromSeconds(30));
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, second);
        await agent.WaitForOutputAsync("[2031]", TimeSpan.FromSeconds(30)); // a planned close, not a warning (2003)
        Assert.DoesNotContain("[2003]", agent.Output, StringComparison.Ordinal);

        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{second}/status/200"));
        Assert.False(agent.HasExited);
        Assert.DoesNotContain(first, agent.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(second, agent.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("[3009]", agent.Output, StringComparison.Ordinal); // SIGHUP was not ignored here
    }

    [Fact]
    public async Task An_agent_started_under_nohup_serves_and_warns_that_SIGHUP_will_not_reload_it()
    {
        var token = "nohup-" + Guid.NewGuid().ToString("N");
        using var agent = CliProcess.StartUnder("nohup", ["agent", "--server", fixture.AgentServerUri.ToString(), "--ca-cert", fixture.Certificate.CaFile,
            "--target", fixture.Backend.Address.ToString()], new Dictionary<string, string> { ["WSTUNNEL_TOKEN"] = token });
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);

        var warning = await agent.WaitForOutputAsync("[3009]", TimeSpan.FromSeconds(30));
        Assert.Contains("nohup", warning, StringComparison.Ordinal);
        Assert.Contains("token and secret files", warning, StringComparison.Ordinal);
        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Fact]
    public async Task Gateway_and_agent_started_in_a_directory_tree_watch_only_the_configuration_files_directory_not_the_tree()
    {
        // Under systemd the working directory is /; .NET's default configuration would watch all of it.
        using var tree = new TemporaryDirectory();
        for (var i = 0; i < 30; i++)
        {
            Directory.CreateDirectory(Path.Combine(tree.Path, $"dir{i}", "beneath"));
        }

        var (certificate, key) = TestCertificate.Pem(fixture.Certificate.Server);
        var config = tree.WriteFile("appsettings.json", "{}");
        using var gateway = CliProcess.Start(["server", "--urls", "https://127.0.0.1:0", "--cert", tree.WriteFile("gateway.pem", certificate),
            "--cert-key", tree.WriteFile("gateway.key", key), "--config", config], workingDirectory: tree.Path);
        var token = "tree-" + Guid.NewGuid().ToString("N");
        using var agent = CliProcess.Start(["agent", "--server", fixture.AgentServerUri.ToString(), "--ca-cert", fixture.Certificate.CaFile,
            "--target", fixture.Backend.Address.ToString(), "--config", config], new Dictionary<string, string> { ["WSTUNNEL_TOKEN"] = token }, tree.Path);
        await gateway.WaitForOutputAsync("Now listening on: https://", TimeSpan.FromMinutes(1));
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);

        Assert.Equal(1, gateway.InotifyWatches()); // the configuration file's directory, for reloads
        Assert.Equal(0, agent.InotifyWatches()); // the agent reads its file once (SIGHUP re-reads its credential files)
    }

    [Fact]
    public async Task With_log_format_json_every_agent_log_line_is_a_json_object_with_its_event_id()
    {
        var token = "json-logs-" + Guid.NewGuid().ToString("N");
        using var agent = CliProcess.StartAgent(fixture, token, extraArguments: ["--log-format", "json"]);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);
        var opened = await agent.WaitForOutputAsync("Tunnel open to", TimeSpan.FromSeconds(30));

        using var line = System.Text.Json.JsonDocument.Parse(opened);
        Assert.Equal(2002, line.RootElement.GetProperty("EventId").GetInt32());
        Assert.Equal("Information", line.RootElement.GetProperty("LogLevel").GetString());
        Assert.All(agent.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => System.Text.Json.JsonDocument.Parse(l).Dispose());
        Assert.DoesNotContain(token, agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_configuration_error_names_the_setting_and_the_file_it_came_from_and_nothing_listens()
    {
        var config = Path.Combine(Path.GetTempPath(), $"wstunnel-bad-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(config, """{ "WStunnel": { "Limits": { "MaxTunnels": 0 } } }""");
        try
        {
            using var server = CliProcess.Start(["server", "--urls", "http://127.0.0.1:0", "--config", config, "--WStunnel:MinimumTokenLength=8"]);

            Assert.Equal(2, await server.WaitForExitAsync(TimeSpan.FromMinutes(1)));
            Assert.Contains($"WStunnel:Limits:MaxTunnels must be at least 1 (got 0). (set in the file {config})", server.Output, StringComparison.Ordinal);
            Assert.Contains("WStunnel:MinimumTokenLength must be at least 16 (got 8). (set in the command line)", server.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("Now listening", server.Output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task An_invalid_YARP_route_stops_the_gateway_with_YARPs_reason_not_only_its_summary()
    {
        var config = Path.Combine(Path.GetTempPath(), $"wstunnel-bad-route-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(config, """
            { "ReverseProxy": { "Routes": { "broken": { "ClusterId": "c", "Match": { "Path": "/x/{**rest}", "Methods": [ "NOT A METHOD" ] } } },
                                "Clusters": { "c": { "Destinations": { "d": { "Address": "http://127.0.0.1:9" } } } } } }
            """);
        try
        {
            using var server = CliProcess.Start(["server", "--urls", "http://127.0.0.1:0", "--config", config]);

            Assert.Equal(2, await server.WaitForExitAsync(TimeSpan.FromMinutes(1)));
            Assert.Contains("Unable to load or apply the proxy configuration.", server.Output, StringComparison.Ordinal);
            Assert.Contains("Unsupported HTTP method 'NOT A METHOD' has been set for route 'broken'.", server.Output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task A_mistyped_gateway_option_is_an_error_rather_than_a_silently_ignored_setting()
    {
        using var server = CliProcess.Start(["server", "--urls", "http://127.0.0.1:0", "--cret", "gateway.pem"]);

        Assert.Equal(2, await server.WaitForExitAsync(TimeSpan.FromMinutes(1)));
        Assert.Contains("Unknown option '--cret'", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_gateway_without_a_certificate_for_its_https_endpoint_exits_with_a_clear_error()
    {
        using var server = CliProcess.Start(["server", "--urls", "https://127.0.0.1:0", "--config", "/nonexistent/appsettings.json"]);
        Assert.NotEqual(0, await server.WaitForExitAsync(TimeSpan.FromMinutes(1)));
        Assert.DoesNotContain("Unhandled exception", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_standalone_gateway_exports_the_WStunnel_meter_for_Prometheus_when_enabled()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, metrics: new { Prometheus = new { Enabled = true } });
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        var token = "prometheus-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(gateway.Address), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));

        // The exporter caches a scrape briefly; the counters appear once the request is recorded.
        var scrape = "";
        await Eventually.WaitUntil(() =>
        {
            scrape = client.GetStringAsync("/metrics").GetAwaiter().GetResult();
            return scrape.Contains("wstunnel_outcome=\"forwarded\"", StringComparison.Ordinal);
        }, "the forwarded request in the scrape");

        Assert.Contains("wstunnel_gateway_requests_total{", scrape, StringComparison.Ordinal);
        Assert.Contains("wstunnel_gateway_request_duration_seconds_bucket{", scrape, StringComparison.Ordinal);
        Assert.Contains("wstunnel_gateway_sessions", scrape, StringComparison.Ordinal);
        Assert.DoesNotContain(token, scrape, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_standalone_gateway_with_no_Logging_section_never_logs_a_token_in_any_form()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, new { HostSuffixes = new[] { "tunnel.test" } });
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        var token = "logless" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(gateway.Address), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);

        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
        foreach (var request in new[]
        {
            new HttpRequestMessage(HttpMethod.Get, "/status/201") { Headers = { { "X-Token", token } } },
            new HttpRequestMessage(HttpMethod.Get, "/status/202") { Headers = { Host = token } },
            new HttpRequestMessage(HttpMethod.Get, "/status/203") { Headers = { Host = token + ".tunnel.test" } },
        })
        {
            using var response = await client.SendAsync(request);
            Assert.True(response.IsSuccessStatusCode, $"{request.Headers.Host}: {response.StatusCode}");
        }

        // The requests were logged by the gateway's own events at most; ASP.NET Core's request lines stay off.
        Assert.DoesNotContain(token, gateway.Process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Request starting", gateway.Process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("[1034]", gateway.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_standalone_gateway_answers_its_health_check_without_a_server_banner()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate);
        using var client = fixture.Certificate.CreateClient(gateway.Address);

        using var response = await client.GetAsync("/_health_check");

        Assert.Equal("WSTUNSRV RUNNING", (await response.Content.ReadAsStringAsync()).Trim());
        Assert.False(response.Headers.Contains("Server"), "the gateway must not announce its server software");
    }

    [Fact]
    public async Task The_standalone_gateway_requiring_agent_certificates_admits_the_cli_agent_that_presents_one()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate,
            new { AgentCertificates = new { Required = true, TrustedCaFile = fixture.Certificate.CaFile } });
        using var certificate = fixture.Certificate.IssueClientCertificate("cli-agent");
        var token = "cli-certified-" + Guid.NewGuid().ToString("N");
        var server = TunnelFixture.AgentServer(gateway.Address).ToString();
        using var without = CliProcess.Start(["agent", "--server", server, "--ca-cert", fixture.Certificate.CaFile, "--target", fixture.Backend.Address.ToString()],
            new Dictionary<string, string> { ["WSTUNNEL_TOKEN"] = "cli-uncertified-" + Guid.NewGuid().ToString("N") });
        using var with = CliProcess.Start(
            ["agent", "--server", server, "--ca-cert", fixture.Certificate.CaFile, "--target", fixture.Backend.Address.ToString(),
             "--client-cert", certificate.CertificateFile, "--client-key", certificate.KeyFile],
            new Dictionary<string, string> { ["WSTUNNEL_TOKEN"] = token });

        await with.WaitForOutputAsync("Tunnel open", TimeSpan.FromMinutes(1));
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
        Assert.Contains("403", await without.WaitForOutputAsync("Could not open the tunnel", TimeSpan.FromMinutes(1)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_standalone_gateway_binds_each_of_its_urls_itself_without_Kestrels_override_warning()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, urls: "https://127.0.0.1:0; http://127.0.0.1:0");
        var plain = await gateway.Process.WaitForOutputAsync("Now listening on: http://", TimeSpan.FromMinutes(1));
        using var overTls = fixture.Certificate.CreateClient(gateway.Address);
        using var overPlain = new HttpClient { BaseAddress = new Uri(System.Text.RegularExpressions.Regex.Match(plain, @"http://127\.0\.0\.1:\d+").Value) };

        Assert.Equal("WSTUNSRV RUNNING", (await overTls.GetStringAsync("/_health_check")).Trim());
        Assert.Equal("WSTUNSRV RUNNING", (await overPlain.GetStringAsync("/_health_check")).Trim());
        Assert.DoesNotContain("Overriding address", gateway.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_host_is_given_the_command_line_without_the_urls_the_gateway_binds_itself() =>
        Assert.Equal(
            ["server", "--config", "gateway.json", "--urlsx", "kept"],
            WStunnel.Cli.GatewayEndpoints.WithoutUrls(["server", "--urls", "https://0.0.0.0:443", "--config", "gateway.json", "--URLS=https://[::]:443", "/urls", "http://*:80", "--urlsx", "kept"]));

    [Fact]
    public async Task The_standalone_gateways_Kestrel_receives_into_32_KiB_blocks()
    {
        MemoryPool<byte>? transportPool = null;
        await using var gateway = GatewayApp.Build(["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default", "Warning"], null, null, builder =>
        {
            builder.Services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureEndpointDefaults(listen => listen.Use(next => connection =>
            {
                transportPool = connection.Features.Get<IMemoryPoolFeature>()?.MemoryPool;
                return next(connection);
            })));
        });
        await gateway.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(gateway.Urls.Single()) };

        Assert.Equal("WSTUNSRV RUNNING", (await client.GetStringAsync("/_health_check")).Trim());
        Assert.IsType<WStunnel.Server.Endpoints.LargeBlockMemoryPool>(transportPool);
        await gateway.StopAsync();
    }
}
