using System.Net;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The original's <c>X-Host</c>, made safe: a request may select another target only among the exact
/// origins its agent lists. A canary server next to them must never see a request, however crafted.
/// </summary>
public sealed class AllowedTargetTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>, IAsyncLifetime
{
    private Backend _allowed = null!;
    private Backend _canary = null!;
    private RunningAgent _agent = null!;
    private readonly ListLogger _agentLog = new();
    private readonly string _token = "targets-" + Guid.NewGuid().ToString("N");

    public async Task InitializeAsync()
    {
        _allowed = await Backend.StartAsync();
        _canary = await Backend.StartAsync();
        _agent = await RunningAgent.StartAsync(fixture.AgentServerUri, _token, fixture.Backend.Address, fixture.Certificate.CaFile,
            o => o.AllowedTargets.Add(_allowed.Address), logger: _agentLog);
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        await _allowed.DisposeAsync();
        await _canary.DisposeAsync();
    }

    [Fact]
    public async Task A_listed_origin_is_served_and_the_selecting_header_never_reaches_it()
    {
        var text = await SendAsync("/echo/selected", xHost: Origin(_allowed));

        Assert.Contains("target=/echo/selected\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("x-host", text, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, _allowed.Hits);
    }

    [Fact]
    public async Task Without_the_header_requests_go_to_the_default_target()
    {
        var hits = fixture.Backend.Hits;

        Assert.Equal("status 200", await SendAsync("/status/200"));

        Assert.Equal(hits + 1, fixture.Backend.Hits);
    }

    [Fact]
    public async Task No_crafted_request_ever_reaches_the_canary()
    {
        var canary = Origin(_canary);
        var allowed = Origin(_allowed);
        var port = _canary.Address.Port;

        // Unlisted origin, the same host on another scheme, and tricks that try to smuggle the canary in.
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync("/status/200", xHost: canary));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync("/status/200", xHost: allowed.Replace("http://", "https://", StringComparison.Ordinal)));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync("/status/200", xHost: $"http://localhost:{port}"));
        Assert.Equal(HttpStatusCode.BadRequest, await StatusAsync("/status/200", xHost: $"{allowed}@127.0.0.1:{port}"));
        Assert.Equal(HttpStatusCode.BadRequest, await StatusAsync("/status/200", xHost: $"{canary}/status/200"));
        Assert.Equal(HttpStatusCode.BadRequest, await StatusAsync("/status/200", xHost: $"127.0.0.1:{port}"));
        Assert.Equal(HttpStatusCode.BadRequest, await StatusAsync("/status/200", xHost: allowed, secondXHost: canary));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync("/status/200", host: $"127.0.0.1:{port}")); // a Host header selects nothing

        Assert.Equal(0, _canary.Hits);
        Assert.Contains("is not one of the agent's allowed targets", await _agentLog.WaitForAsync("Request refused"), StringComparison.Ordinal);
    }

    private static string Origin(Backend backend) => backend.Address.GetLeftPart(UriPartial.Authority);

    private async Task<string> SendAsync(string path, string? xHost = null)
    {
        using var response = await SendRawAsync(path, xHost);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    private async Task<HttpStatusCode> StatusAsync(string path, string? xHost = null, string? secondXHost = null, string? host = null)
    {
        using var response = await SendRawAsync(path, xHost, secondXHost, host);
        return response.StatusCode;
    }

    private Task<HttpResponseMessage> SendRawAsync(string path, string? xHost, string? secondXHost = null, string? host = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("X-Token", _token);
        if (xHost is not null)
        {
            request.Headers.Add("X-Host", xHost);
        }

        if (secondXHost is not null)
        {
            request.Headers.Add("X-Host", secondXHost);
        }

        if (host is not null)
        {
            request.Headers.Host = host;
        }

        return fixture.Client.SendAsync(request);
    }
}
