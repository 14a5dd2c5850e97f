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
    private const string IdleTimeout = "WStunnel:RequestActivityTimeout";
    private const string RequestTimeout = "WStunnel:RequestTimeout";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(IdleTimeout, "00:00:01", null)]
    [InlineData(RequestTimeout, "00:00:01", "The tunnel's agent did not answer within the gateway's request timeout.\n")]
    public async Task A_request_whose_backend_stays_silent_gets_504_and_the_backend_request_is_cancelled(string setting, string limit, string? reason)
    {
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, setting, limit);
        var id = Guid.NewGuid().ToString("N");
        var aborted = BackendAborted(id);

        using var response = await tunnel.Client.GetAsync(tunnel.Via($"/silent/{id}")).WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        if (reason is not null)
        {
            Assert.Equal(reason, await response.Content.ReadAsStringAsync());
        }

        await aborted.WaitAsync(Patience);
    }

    [Theory]
    [InlineData(IdleTimeout, "00:00:01")] // the body stops making progress
    [InlineData(RequestTimeout, "00:00:02")] // the whole request runs too long
    public async Task A_response_still_running_at_the_timeout_is_cut_off_and_the_backend_request_is_cancelled(string setting, string limit)
    {
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, setting, limit);
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
        await using var tunnel = await DedicatedTunnel.WithSettingAsync(fixture, RequestTimeout, "00:00:30");

        using var response = await tunnel.Client.GetAsync(tunnel.Via($"/bytes/{4 * 1024 * 1024}")).WaitAsync(Patience);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(4 * 1024 * 1024, (await response.Content.ReadAsByteArrayAsync()).Length);
    }

    private Task BackendAborted(string id) =>
        fixture.Backend.Aborted.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
}
