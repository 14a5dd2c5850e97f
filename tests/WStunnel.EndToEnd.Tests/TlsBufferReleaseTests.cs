using Microsoft.Extensions.DependencyInjection;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server.Endpoints;

namespace WStunnel.EndToEnd.Tests;

/// <summary>The gateway sets OpenSSL's buffer release on the TLS connections its agents hold open.</summary>
public abstract class TlsBufferReleaseTests(TunnelFixture fixture)
{
    [Fact]
    public async Task An_agents_TLS_connection_to_the_gateway_releases_its_idle_buffers()
    {
        // A request through the tunnel: the agent is connected (and, over long-poll, has polled).
        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{fixture.Token}/status/200"));

        var release = fixture.Gateway.Services.GetRequiredService<TlsBufferRelease>();
        Assert.True(release.Applied > 0, "no agent connection had SSL_MODE_RELEASE_BUFFERS set");
    }
}

public sealed class TlsBufferReleaseTestsOverWebSocket(WebSocketTunnelFixture fixture) : TlsBufferReleaseTests(fixture), IClassFixture<WebSocketTunnelFixture>;

public sealed class TlsBufferReleaseTestsOverLongPoll(LongPollTunnelFixture fixture) : TlsBufferReleaseTests(fixture), IClassFixture<LongPollTunnelFixture>;
