using System.Net;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>Tokens never reach the gateway's logs, whatever happens to the request.</summary>
public sealed class SecretsTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task No_gateway_log_line_contains_a_token_at_any_level()
    {
        var token = "secret-" + Guid.NewGuid().ToString("N");
        var agent = await fixture.StartAgentAsync(token, fixture.Backend.Address);

        await fixture.Client.GetStringAsync($"/_token/{token}/echo/a");
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/echo/b"))
        {
            request.Headers.Add("X-Token", token);
            (await fixture.Client.SendAsync(request)).EnsureSuccessStatusCode();
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/echo/c"))
        {
            request.Headers.Host = $"{token}.{TunnelFixture.HostSuffix}";
            (await fixture.Client.SendAsync(request)).EnsureSuccessStatusCode();
        }

        await agent.DisposeAsync();
        while (fixture.GatewayLog.Lines.All(l => !l.Contains("Agent left tunnel", StringComparison.Ordinal)))
        {
            await Task.Delay(10);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Client.GetAsync($"/_token/{token}x/unknown")).StatusCode);

        var lines = fixture.GatewayLog.Lines.ToArray();
        Assert.Contains(lines, l => l.Contains("Agent connected", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(token, StringComparison.Ordinal));
    }
}
