using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>The agent reaches the gateway through a real HTTP CONNECT proxy, and says clearly when the proxy will not let it.</summary>
public sealed class ProxyTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task The_agent_tunnels_through_an_HTTP_CONNECT_proxy()
    {
        using var proxy = await TinyProxy.StartAsync();
        var token = "proxied-" + Guid.NewGuid().ToString("N");
        await fixture.StartAgentAsync(token, fixture.Backend.Address, o => o.Proxy = new Uri($"http://127.0.0.1:{proxy.Port}"));

        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{token}/status/200"));
        Assert.Contains("CONNECT", proxy.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_agent_authenticates_to_a_proxy_that_requires_credentials()
    {
        using var proxy = await TinyProxy.StartAsync(basicAuth: "agent s3cret");
        var token = "proxied-auth-" + Guid.NewGuid().ToString("N");
        await fixture.StartAgentAsync(token, fixture.Backend.Address, o => o.Proxy = new Uri($"http://agent:s3cret@127.0.0.1:{proxy.Port}"));

        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Fact]
    public async Task Missing_proxy_credentials_are_reported_and_retried()
    {
        using var proxy = await TinyProxy.StartAsync(basicAuth: "agent s3cret");
        var logger = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(fixture.AgentServerUri, "no-credentials-0123456789", fixture.Backend.Address, fixture.Certificate.CaFile,
            o => o.Proxy = new Uri($"http://127.0.0.1:{proxy.Port}"), waitForTunnel: false, logger: logger);

        var line = await logger.WaitForAsync("Could not open the tunnel");
        Assert.Contains("407", line, StringComparison.Ordinal);
        await logger.WaitForAsync("(attempt 2)");
    }

    [Fact]
    public async Task A_proxy_that_refuses_the_connection_is_reported_and_retried()
    {
        using var proxy = await TinyProxy.StartAsync(onlyConnectPort: 1);
        var logger = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(fixture.AgentServerUri, "refused-by-proxy-0123456789", fixture.Backend.Address, fixture.Certificate.CaFile,
            o => o.Proxy = new Uri($"http://127.0.0.1:{proxy.Port}"), waitForTunnel: false, logger: logger);

        var line = await logger.WaitForAsync("Could not open the tunnel");
        Assert.Contains("403", line, StringComparison.Ordinal);
        await logger.WaitForAsync("(attempt 2)");
    }

    [Fact]
    public async Task The_HTTPS_PROXY_variable_is_honoured_when_no_proxy_is_given()
    {
        // The agent's handler reads the environment through HttpClient.DefaultProxy, which is created once per process;
        // run the agent in its own process so the variable is seen as an operator would set it.
        using var proxy = await TinyProxy.StartAsync();
        var token = "env-proxy-" + Guid.NewGuid().ToString("N");
        using var process = CliProcess.StartAgent(fixture, token, new Dictionary<string, string> { ["HTTPS_PROXY"] = $"http://127.0.0.1:{proxy.Port}" });
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);

        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{token}/status/200"));
        Assert.Contains("CONNECT", proxy.Log, StringComparison.Ordinal);
    }
}
