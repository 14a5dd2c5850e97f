using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server.Registry;
using Microsoft.Extensions.DependencyInjection;

namespace WStunnel.EndToEnd.Tests;

/// <summary>The agent never gives up: a tunnel lost at the gateway comes back by itself.</summary>
public sealed class ReconnectTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task An_agent_whose_tunnel_breaks_reconnects_and_serves_again()
    {
        var token = "reconnect-" + Guid.NewGuid().ToString("N");
        await fixture.StartAgentAsync(token, fixture.Backend.Address);
        var registry = fixture.Gateway.Services.GetRequiredService<TunnelRegistry>();
        var first = registry.FindByToken(token)!.Session!;

        first.Abort(new IOException("connection cut by the test"));
        await first.Completion.WaitAsync(TimeSpan.FromSeconds(20));
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);

        Assert.NotSame(first, registry.FindByToken(token)!.Session);
        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Fact]
    public async Task A_link_reset_again_and_again_resumes_one_session_and_the_gateway_keeps_no_other()
    {
        await using var tunnel = await DedicatedTunnel.StartAsync(fixture, agent: o =>
        {
            o.ReconnectDelay = TimeSpan.FromMilliseconds(1);
            o.MaxReconnectDelay = TimeSpan.FromMilliseconds(5);
        }, throughRelay: true);
        var registry = tunnel.Gateway.Services.GetRequiredService<TunnelRegistry>();
        var session = registry.FindByToken(tunnel.Token)!.Session!;

        for (var i = 0; i < 30; i++)
        {
            await tunnel.Relay!.ResetAndWaitForNewLinkAsync();
            Assert.Equal("status 200", await tunnel.Client.GetStringAsync(tunnel.Via("/status/200")));
        }

        Assert.Same(session, registry.FindByToken(tunnel.Token)!.Session);
        Assert.True(session.Resumptions >= 30, $"resumed {session.Resumptions} times");
        Assert.Equal(1, registry.SessionCount);
    }

    [Fact]
    public async Task After_a_stable_connection_breaks_the_agent_dials_again_at_once_to_resume_whatever_waits()
    {
        await using var tunnel = await DedicatedTunnel.StartAsync(fixture, agent: o =>
        {
            o.StableConnectionTime = TimeSpan.FromMilliseconds(200);
            o.ReconnectDelay = TimeSpan.FromMinutes(10); // a backoff delay would outlast the test
            o.MaxReconnectDelay = TimeSpan.FromMinutes(10);
        }, throughRelay: true);
        await Task.Delay(500);

        await tunnel.Relay!.ResetAndWaitForNewLinkAsync();
        Assert.Equal("status 200", await tunnel.Client.GetStringAsync(tunnel.Via("/status/200")).WaitAsync(TimeSpan.FromSeconds(20)));
    }
}
