using Microsoft.AspNetCore.Builder;
using WStunnel.Agent;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A gateway of a test's own (for settings the shared fixture must not have), one agent serving the
/// fixture's backend through it, optionally through a fault relay, and a client for the gateway.
/// </summary>
internal sealed class DedicatedTunnel : IAsyncDisposable
{
    private DedicatedTunnel(WebApplication gateway, FaultRelay? relay, HttpClient client, RunningAgent agent, string token)
    {
        Gateway = gateway;
        Relay = relay;
        Client = client;
        Agent = agent;
        Token = token;
    }

    public WebApplication Gateway { get; }

    /// <summary>The relay between agent and gateway; null unless asked for.</summary>
    public FaultRelay? Relay { get; }

    public HttpClient Client { get; }

    public RunningAgent Agent { get; }

    public string Token { get; }

    /// <summary>A path through the tunnel, in the <c>/_token/TOKEN/</c> form.</summary>
    public string Via(string path) => $"/_token/{Token}{path}";

    public static async Task<DedicatedTunnel> StartAsync(
        TunnelFixture fixture, Action<WebApplicationBuilder>? gateway = null, Action<WStunnelAgentOptions>? agent = null, bool throughRelay = false)
    {
        var app = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, gateway);
        var address = TunnelFixture.AddressOf(app);
        var relay = throughRelay ? FaultRelay.Start(address.Port) : null;
        var server = relay is null ? TunnelFixture.AgentServer(address) : new Uri($"wss://127.0.0.1:{relay.Port}");
        var token = "dedicated-" + Guid.NewGuid().ToString("N");
        var running = await RunningAgent.StartAsync(server, token, fixture.Backend.Address, fixture.Certificate.CaFile, agent);
        await TunnelFixture.WaitForRegistrationAsync(app, token);
        return new DedicatedTunnel(app, relay, fixture.Certificate.CreateClient(address), running, token);
    }

    /// <summary>A dedicated tunnel whose gateway has one setting changed, e.g. <c>WStunnel:RequestTimeout</c>.</summary>
    public static Task<DedicatedTunnel> WithSettingAsync(TunnelFixture fixture, string key, string value) =>
        StartAsync(fixture, builder => builder.Configuration[key] = value);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Agent.DisposeAsync();
        if (Relay is not null)
        {
            await Relay.DisposeAsync();
        }

        await Gateway.DisposeAsync();
    }
}
