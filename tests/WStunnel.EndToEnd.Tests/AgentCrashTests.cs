using Microsoft.Extensions.DependencyInjection;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server.Registry;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// A real agent process killed with SIGKILL (power loss, OOM killer): it cannot resume anything, so
/// what it was serving fails cleanly, and what it never saw is served by its restart, once.
/// </summary>
public sealed class AgentCrashTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task A_killed_agent_process_cuts_its_response_in_flight_off_and_its_restart_serves_the_request_that_waited_once()
    {
        var token = "crash-" + Guid.NewGuid().ToString("N");
        using var first = CliProcess.StartAgent(fixture, token);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);

        using var download = await fixture.Client.GetAsync($"/_token/{token}/bytes/{200_000_000}", HttpCompletionOption.ResponseHeadersRead);
        var body = await download.Content.ReadAsStreamAsync();
        var buffer = new byte[64 * 1024];
        for (long read = 0; read < 1_000_000;)
        {
            read += await body.ReadAsync(buffer);
        }

        first.Kill();

        // Sent only once the gateway has seen the connection die: a request sent in the instant before
        // goes into the dead connection, and one whose body went there is not sent again (its agent may
        // have passed it on before it died), so it fails with 502 — by design, not what this test is about.
        var registry = fixture.Gateway.Services.GetRequiredService<TunnelRegistry>();
        await Eventually.WaitUntil(() => registry.FindByToken(token)?.Session is not { IsAvailable: true }, "the gateway to notice the killed agent");

        var id = Guid.NewGuid().ToString("N");
        using var payload = new StringContent("sent while no agent was there");
        var waiting = fixture.Client.PostAsync($"/_token/{token}/count/{id}", payload);
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);

        using var restarted = CliProcess.StartAgent(fixture, token);

        // The download is not passed off as complete: the client's read fails.
        await Assert.ThrowsAnyAsync<IOException>(() => body.CopyToAsync(Stream.Null).WaitAsync(TimeSpan.FromSeconds(60)));
        using var served = await waiting.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal($"counted {id} 29", await served.Content.ReadAsStringAsync());
        Assert.Equal(1, fixture.Backend.Counts[id]);
    }
}
