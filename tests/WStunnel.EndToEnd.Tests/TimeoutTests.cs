using System.Net;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The gateway's two clocks on a request: the idle timeout (no progress) and the overall request
/// timeout. Either gives 504 before the response started and cuts the response off after, and
/// either way the backend's request is cancelled.
/// </summary>
public sealed class TimeoutTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_request_whose_backend_stays_silent_for_the_idle_timeout_gets_504_and_the_backend_request_is_cancelled()
    {
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, "WStunnel:RequestActivityTimeout", "00:00:01");
        var id = Guid.NewGuid().ToString("N");
        var aborted = BackendAborted(id);

        using var response = await tunnel.Client.GetAsync(tunnel.Via($"/silent/{id}")).WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        await aborted.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_response_that_stops_making_progress_for_the_idle_timeout_is_cut_off()
    {
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, "WStunnel:RequestActivityTimeout", "00:00:01");
        var id = Guid.NewGuid().ToString("N");
        var aborted = BackendAborted(id);

        using var response = await tunnel.Client.GetAsync(tunnel.Via($"/hang/{id}"), HttpCompletionOption.ResponseHeadersRead).WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => response.Content.ReadAsStringAsync().WaitAsync(Patience));
        await aborted.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_request_still_unanswered_at_the_request_timeout_gets_504_with_a_reason()
    {
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, "WStunnel:RequestTimeout", "00:00:01");
        var id = Guid.NewGuid().ToString("N");
        var aborted = BackendAborted(id);

        using var response = await tunnel.Client.GetAsync(tunnel.Via($"/silent/{id}")).WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("The tunnel's agent did not answer within the gateway's request timeout.\n", await response.Content.ReadAsStringAsync());
        await aborted.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_response_body_still_running_at_the_request_timeout_is_cut_off()
    {
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, "WStunnel:RequestTimeout", "00:00:02");
        var id = Guid.NewGuid().ToString("N");
        var aborted = BackendAborted(id);

        using var response = await tunnel.Client.GetAsync(tunnel.Via($"/hang/{id}"), HttpCompletionOption.ResponseHeadersRead).WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => response.Content.ReadAsStringAsync().WaitAsync(Patience));
        await aborted.WaitAsync(Patience);
    }

    [Fact]
    public async Task Requests_that_finish_in_time_are_untouched_by_either_timeout()
    {
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, "WStunnel:RequestTimeout", "00:00:30");

        using var response = await tunnel.Client.GetAsync(tunnel.Via($"/bytes/{4 * 1024 * 1024}")).WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(4 * 1024 * 1024, (await response.Content.ReadAsByteArrayAsync()).Length);
    }

    private Task BackendAborted(string id) =>
        fixture.Backend.Aborted.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
}
