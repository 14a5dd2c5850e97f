using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>The samples do what their comments promise.</summary>
public sealed partial class SampleTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task The_standalone_gateway_sample_reads_the_root_appsettings_and_serves_tunnels()
    {
        var (pem, key) = WritePem();
        using var gateway = CliProcess.StartSample("Gateway", ["--Kestrel:Endpoints:Https:Url=https://127.0.0.1:0", $"--Kestrel:Certificates:Default:Path={pem}", $"--Kestrel:Certificates:Default:KeyPath={key}"]);
        var address = await ListeningAddressAsync(gateway);

        var token = "sample-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(new Uri($"wss://localhost:{address.Port}"), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);
        using var client = fixture.Certificate.CreateClient(new Uri($"https://localhost:{address.Port}"));
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Fact]
    public async Task The_existing_gateway_sample_routes_its_named_tunnel_and_fails_closed_without_its_token()
    {
        using (var unconfigured = CliProcess.StartSample("ExistingYarpGateway", ["--urls", "https://127.0.0.1:0"], new Dictionary<string, string> { ["BUILD_AGENT_TOKEN"] = "" }))
        {
            Assert.NotEqual(0, await unconfigured.WaitForExitAsync(TimeSpan.FromMinutes(1)));
            Assert.Contains("WStunnel:Tunnels:build-agent", unconfigured.Output, StringComparison.Ordinal);
        }

        var (pem, key) = WritePem();
        var token = "build-agent-" + Guid.NewGuid().ToString("N");
        using var gateway = CliProcess.StartSample("ExistingYarpGateway",
            ["--urls", "https://127.0.0.1:0", $"--Kestrel:Certificates:Default:Path={pem}", $"--Kestrel:Certificates:Default:KeyPath={key}"],
            new Dictionary<string, string> { ["BUILD_AGENT_TOKEN"] = token });
        var address = await ListeningAddressAsync(gateway);
        await using var agent = await RunningAgent.StartAsync(new Uri($"wss://localhost:{address.Port}"), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);

        using var client = fixture.Certificate.CreateClient(new Uri($"https://localhost:{address.Port}"));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo/build");
        request.Headers.Host = "build.example.com";
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("target=/echo/build\n", text, StringComparison.Ordinal);
        Assert.Contains("header:x-via=gateway", text, StringComparison.Ordinal);

        var stats = await client.GetStringAsync("/_stats");
        Assert.Contains("tunnel00_name=build-agent\ntunnel00_agents=1\n", stats, StringComparison.Ordinal);
        Assert.DoesNotContain(token, stats, StringComparison.Ordinal);
    }

    private (string Pem, string Key) WritePem()
    {
        var directory = Directory.CreateTempSubdirectory("wstunnel-sample-").FullName;
        var pem = Path.Combine(directory, "gateway.pem");
        var key = Path.Combine(directory, "gateway.key");
        File.WriteAllText(pem, fixture.Certificate.Server.ExportCertificatePem());
        File.WriteAllText(key, fixture.Certificate.Server.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        return (pem, key);
    }

    private static async Task<Uri> ListeningAddressAsync(CliProcess process)
    {
        var line = await process.WaitForOutputAsync("Now listening on:", TimeSpan.FromMinutes(1));
        return new Uri(ListeningUrl().Match(line).Value);
    }

    [GeneratedRegex(@"https://[^\s]+")]
    private static partial Regex ListeningUrl();
}
