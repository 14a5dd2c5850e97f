using System.Net;
using Microsoft.AspNetCore.Builder;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The gateway's two clocks on a request: the idle timeout (no progress) and the overall request
/// timeout. Either gives 504 before the response started and cuts the response off after, and
/// either way the backend's request is cancelled.
/// </summary>
public sealed class TimeoutTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly List<IAsyncDisposable> _started = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // Agents first, then their gateways.
        for (var i = _started.Count - 1; i >= 0; i--)
        {
            await _started[i].DisposeAsync();
        }
    }

    [Fact]
    public async Task A_request_whose_backend_stays_silent_for_the_idle_timeout_gets_504_and_the_backend_request_is_cancelled()
    {
        var gateway = await GatewayAsync("WStunnel:RequestActivityTimeout", "00:00:01");
        var (client, token) = await AgentAsync(gateway);
        var id = Guid.NewGuid().ToString("N");
        var aborted = BackendAborted(id);

        using var response = await client.GetAsync($"/_token/{token}/silent/{id}").WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        await aborted.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_response_that_stops_making_progress_for_the_idle_timeout_is_cut_off()
    {
        var gateway = await GatewayAsync("WStunnel:RequestActivityTimeout", "00:00:01");
        var (client, token) = await AgentAsync(gateway);
        var id = Guid.NewGuid().ToString("N");
        var aborted = BackendAborted(id);

        using var response = await client.GetAsync($"/_token/{token}/hang/{id}", HttpCompletionOption.ResponseHeadersRead).WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => response.Content.ReadAsStringAsync().WaitAsync(Patience));
        await aborted.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_request_still_unanswered_at_the_request_timeout_gets_504_with_a_reason()
    {
        var gateway = await GatewayAsync("WStunnel:RequestTimeout", "00:00:01");
        var (client, token) = await AgentAsync(gateway);
        var id = Guid.NewGuid().ToString("N");
        var aborted = BackendAborted(id);

        using var response = await client.GetAsync($"/_token/{token}/silent/{id}").WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("The tunnel's agent did not answer within the gateway's request timeout.\n", await response.Content.ReadAsStringAsync());
        await aborted.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_response_body_still_running_at_the_request_timeout_is_cut_off()
    {
        var gateway = await GatewayAsync("WStunnel:RequestTimeout", "00:00:02");
        var (client, token) = await AgentAsync(gateway);
        var id = Guid.NewGuid().ToString("N");
        var aborted = BackendAborted(id);

        using var response = await client.GetAsync($"/_token/{token}/hang/{id}", HttpCompletionOption.ResponseHeadersRead).WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => response.Content.ReadAsStringAsync().WaitAsync(Patience));
        await aborted.WaitAsync(Patience);
    }

    [Fact]
    public async Task Requests_that_finish_in_time_are_untouched_by_either_timeout()
    {
        var gateway = await GatewayAsync("WStunnel:RequestTimeout", "00:00:30");
        var (client, token) = await AgentAsync(gateway);

        using var response = await client.GetAsync($"/_token/{token}/bytes/{4 * 1024 * 1024}").WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(4 * 1024 * 1024, (await response.Content.ReadAsByteArrayAsync()).Length);
    }

    private async Task<WebApplication> GatewayAsync(string setting, string value)
    {
        var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder => builder.Configuration[setting] = value);
        _started.Add(gateway);
        return gateway;
    }

    private async Task<(HttpClient Client, string Token)> AgentAsync(WebApplication gateway)
    {
        var address = TunnelFixture.AddressOf(gateway);
        var token = "timeouts-" + Guid.NewGuid().ToString("N");
        var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(address), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);
        _started.Add(agent);
        return (fixture.Certificate.CreateClient(address), token);
    }

    private Task BackendAborted(string id) =>
        fixture.Backend.Aborted.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
}
