using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// Service definitions written for the original WStunnel keep working: <c>wstunnel srv</c> and
/// <c>wstunnel cli</c> take its single-dash flags with their meaning, and refuse what they cannot honour.
/// </summary>
public sealed class LegacyCommandTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("wstunnel-legacy-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task An_original_srv_and_cli_pair_serves_requests_with_pid_log_and_status_files()
    {
        var port = FreePort();
        var pidFile = Path.Combine(_directory, "wstunsrv.pid");
        var logFile = Path.Combine(_directory, "wstunsrv.log");
        var statusFile = Path.Combine(_directory, "wstuncli.status");
        var token = "legacy-" + Guid.NewGuid().ToString("N");
        using var srv = CliProcess.Start(["srv", "-port", port.ToString(), "-host", "127.0.0.1", "-httptimeout", "60", "-wstimeout", "30", "-pidfile", pidFile, "-logfile", logFile]);
        await Eventually.WaitUntil(() => File.Exists(pidFile) && File.ReadAllText(logFile).Contains("Now listening on", StringComparison.Ordinal), "the srv pid and log files");
        Assert.Equal(srv.Id.ToString(), File.ReadAllText(pidFile).Trim());

        using var cli = CliProcess.Start(["cli", "-tunnel", $"ws://127.0.0.1:{port}", "-server", fixture.Backend.Address.ToString(), "-token", token, "-timeout", "30",
            "-statusfile", statusFile]);
        await Eventually.WaitUntil(() => File.Exists(statusFile) && File.ReadAllText(statusFile).Contains("\"connected\": true", StringComparison.Ordinal), "the cli status file to say connected");

        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
        Assert.Equal("WSTUNSRV RUNNING", await client.GetStringAsync("/_health_check"));
        using var status = JsonDocument.Parse(File.ReadAllText(statusFile));
        Assert.Equal("websocket", status.RootElement.GetProperty("transport").GetString());
        Assert.Contains("process list", cli.Output, StringComparison.Ordinal); // -token on the command line warns
        Assert.DoesNotContain(token, cli.Output, StringComparison.Ordinal);

        Signals.Terminate(srv.Id);
        Assert.Equal(0, await srv.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.False(File.Exists(pidFile), "the pid file is removed at exit");
        await Eventually.WaitUntil(() => File.ReadAllText(statusFile).Contains("\"connected\": false", StringComparison.Ordinal), "the status file to say disconnected");
    }

    [Fact]
    public async Task The_original_token_and_password_form_presents_the_password_as_the_agent_secret()
    {
        const string Token = "legacy-secured-token-0123456789";
        const string Password = "legacy-secured-password-0123456789";
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, new { Tunnels = new { secured = new { Token, AgentSecret = Password } } });
        var caFile = fixture.Certificate.CaFile;

        using var wrong = CliProcess.Start(["cli", "-tunnel", $"wss://127.0.0.1:{gateway.Address.Port}", "-server", fixture.Backend.Address.ToString(), "-token", $"{Token}:wrong-password-0123456789", "-certfile", caFile]);
        Assert.Contains("403", await wrong.WaitForOutputAsync("Could not open the tunnel", TimeSpan.FromSeconds(30)), StringComparison.Ordinal);

        using var right = CliProcess.Start(["cli", "-tunnel", $"wss://127.0.0.1:{gateway.Address.Port}", "-server", fixture.Backend.Address.ToString(), "-token", $"{Token}:{Password}", "-certfile", caFile]);
        await right.WaitForOutputAsync("Tunnel open to", TimeSpan.FromSeconds(30));
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{Token}/status/200"));
        Assert.DoesNotContain(Password, right.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cli -tunnel wss://gw.example.com -regexp ^http://.*", "-regexp", "--allow-target")]
    [InlineData("cli -tunnel wss://gw.example.com -client-ports 8000..8100", "-client-ports", "HTTP requests only")]
    [InlineData("cli -tunnel wss://user:pass@gw.example.com", "-tunnel with user:pass@", "cannot be honoured")]
    [InlineData("srv -syslog daemon", "-syslog", "-logfile")]
    public async Task What_cannot_be_honoured_is_an_error_that_says_so(string commandLine, string named, string advice)
    {
        using var process = CliProcess.Start(commandLine.Split(' '));

        Assert.Equal(2, await process.WaitForExitAsync(TimeSpan.FromMinutes(1)));
        Assert.Contains(named, process.Output, StringComparison.Ordinal);
        Assert.Contains(advice, process.Output, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
