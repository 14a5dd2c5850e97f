using System.Net;
using WStunnel.EndToEnd.Tests.Infrastructure;
using static WStunnel.EndToEnd.Tests.Infrastructure.Eventually;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The real processes stopped the way service managers stop them (SIGTERM) with a response in
/// flight: it completes, and the process exits 0 within its grace period.
/// </summary>
public sealed class ProcessShutdownTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_gateway_process_given_SIGTERM_finishes_the_response_in_flight_refuses_new_work_and_exits_0()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate);
        using var client = fixture.Certificate.CreateClient(gateway.Address);
        var token = "sigterm-gateway-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(gateway.Address), token, fixture.Backend.Address, fixture.Certificate.CaFile, null, waitForTunnel: true);
        await WaitUntilServedAsync(client, token);

        var (response, events, id) = await StartEventStreamAsync(client, token);
        Signals.Terminate(gateway.Process.Id);
        await gateway.Process.WaitForOutputAsync("closing 1 agent sessions", Patience);

        // Stopping: new requests are not taken any more, the stream in flight goes on.
        await AssertRefusedAsync(client, token);
        await FinishEventStreamAsync(response, events, id);
        Assert.Equal(0, await gateway.Process.WaitForExitAsync(Patience));
    }

    [Fact]
    public async Task An_agent_process_given_SIGTERM_finishes_the_response_in_flight_and_exits_0()
    {
        var token = "sigterm-agent-" + Guid.NewGuid().ToString("N");
        using var agent = CliProcess.StartAgent(fixture, token);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);

        var (response, events, id) = await StartEventStreamAsync(fixture.Client, token);
        Signals.Terminate(agent.Id);
        await agent.WaitForOutputAsync("Agent stopping: letting 1 requests finish", Patience);

        await FinishEventStreamAsync(response, events, id);
        Assert.Equal(0, await agent.WaitForExitAsync(Patience));
        Assert.DoesNotContain("Unhandled exception", agent.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// A new request is refused at once: the connection is closed, or, when the request was already
    /// on a kept-alive connection as the gateway began to stop, it is answered 503 (no agent may come
    /// back to a stopping gateway, so it must not wait in the queue).
    /// </summary>
    private static async Task AssertRefusedAsync(HttpClient client, string token)
    {
        try
        {
            // Well within the gateway's 10 s grace period: waiting in the queue until it ends is the bug.
            using var response = await client.GetAsync($"/_token/{token}/status/200").WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("shutting down", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        catch (HttpRequestException)
        {
            // refused at the connection
        }
    }

    private static async Task WaitUntilServedAsync(HttpClient client, string token)
    {
        using var response = await client.GetAsync($"/_token/{token}/status/200");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Opens an event stream whose backend waits, event by event, for the test to let it go on.</summary>
    private static async Task<(HttpResponseMessage Response, StreamReader Events, string Id)> StartEventStreamAsync(HttpClient client, string token)
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await client.GetAsync($"/_token/{token}/sse/{id}", HttpCompletionOption.ResponseHeadersRead);
        var events = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal("data: event 1", await events.ReadLineAsync().WaitAsync(Patience));
        return (response, events, id);
    }

    private async Task FinishEventStreamAsync(HttpResponseMessage response, StreamReader events, string id)
    {
        using (response)
        using (events)
        {
            var gate = fixture.Backend.EventGates[id];
            gate.Release(2);
            var rest = await events.ReadToEndAsync().WaitAsync(Patience);
            Assert.Equal("\ndata: event 2\n\ndata: event 3\n\n", rest);
        }
    }
}
