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
}
