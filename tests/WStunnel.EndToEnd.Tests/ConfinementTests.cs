using System.Net;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;
using WStunnel.Server.Registry;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// A tunnel leads into a private network: requests that would turn it into a proxy or a mirror are
/// refused by the gateway, and by the agent again should a gateway ever send one.
/// </summary>
public sealed class ConfinementTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task The_gateway_answers_405_to_TRACE()
    {
        var hits = fixture.Backend.Hits;
        using var request = new HttpRequestMessage(HttpMethod.Trace, $"/_token/{fixture.Token}/echo/x");

        using var response = await fixture.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Contains("GET", response.Content.Headers.Allow);
        Assert.Equal("TRACE requests are not forwarded through a tunnel.\n", await response.Content.ReadAsStringAsync());
        Assert.Equal(hits, fixture.Backend.Hits);
    }

    [Fact]
    public async Task A_CONNECT_request_carrying_a_token_never_reaches_a_tunnel()
    {
        var hits = fixture.Backend.Hits;
        using var request = new HttpRequestMessage(HttpMethod.Connect, "/");
        request.Headers.Host = "internal.example:22";
        request.Headers.Add("X-Token", fixture.Token);

        using var response = await fixture.Client.SendAsync(request);

        // YARP itself refuses to forward CONNECT (502); the agent would refuse it as well (below).
        Assert.False(response.IsSuccessStatusCode, $"got {(int)response.StatusCode}");
        Assert.Equal(hits, fixture.Backend.Hits);
    }

    [Theory]
    [InlineData("TRACE", "/echo/x")]
    [InlineData("CONNECT", "/echo/x")]
    [InlineData("OPTIONS", "*")]
    public async Task The_agent_refuses_what_it_never_forwards_even_from_its_gateway_and_keeps_serving(string method, string target)
    {
        var token = "confined-" + Guid.NewGuid().ToString("N");
        var log = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(fixture.AgentServerUri, token, fixture.Backend.Address, fixture.Certificate.CaFile,
            o => o.Transport = fixture.Transport, logger: log);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);
        var session = fixture.Gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(token)!.Session!;
        var hits = fixture.Backend.Hits;

        // Straight into the gateway's session, past the gateway's own check, as a compromised gateway could.
        var stream = await session.OpenStreamAsync(new RequestHead { Method = method, PathAndQuery = target }, endStream: true, default);
        var error = await Assert.ThrowsAsync<TunnelStreamException>(() => stream.ResponseHead.WaitAsync(TimeSpan.FromSeconds(20)));

        Assert.Equal(ErrorCode.ProtocolError, error.Code);
        Assert.Contains("never forwarded", await log.WaitForAsync("Request refused"), StringComparison.Ordinal);
        Assert.Equal(hits, fixture.Backend.Hits);
        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{token}/status/200"));
    }
}
