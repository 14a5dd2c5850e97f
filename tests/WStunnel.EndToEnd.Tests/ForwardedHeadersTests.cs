using System.Net;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The standalone gateway behind a reverse proxy: it believes <c>X-Forwarded-For</c> and
/// <c>X-Forwarded-Proto</c> from the proxies <c>ForwardedHeaders:KnownProxies</c> lists, and from no one else.
/// </summary>
public sealed class ForwardedHeadersTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task Behind_a_listed_proxy_the_backend_sees_the_client_the_proxy_vouches_for_and_nothing_the_client_made_up()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, forwardedHeaders: new { KnownProxies = new[] { "127.0.0.1" } });
        var token = "proxied-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(gateway.Address), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);
        using var client = fixture.Certificate.CreateClient(gateway.Address);

        // The client claimed 198.51.100.1; the proxy (loopback) appended the address it saw.
        var echo = await SendAsync(client, $"/_token/{token}/echo/x", forwardedFor: "198.51.100.1, 203.0.113.7", forwardedProto: "https");

        Assert.Contains("header:x-forwarded-for=203.0.113.7\n", echo, StringComparison.Ordinal);
        Assert.DoesNotContain("198.51.100.1", echo, StringComparison.Ordinal);
        Assert.Contains("header:x-forwarded-proto=https\n", echo, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Behind_a_listed_proxy_status_access_and_rate_limits_go_by_the_client_s_address()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, settings: new { RateLimits = new { UnknownTokenRequestsPerMinute = 2 } },
            forwardedHeaders: new { KnownProxies = new[] { "127.0.0.0/8" } });
        using var client = fixture.Certificate.CreateClient(gateway.Address);

        // A proxy on the same machine makes every request come from loopback: the status is for the client's address to earn.
        Assert.Equal(HttpStatusCode.Forbidden, await StatusOfAsync(client, "/_stats", forwardedFor: "203.0.113.7"));
        Assert.Equal(HttpStatusCode.OK, await StatusOfAsync(client, "/_stats", forwardedFor: null));

        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(HttpStatusCode.NotFound, await StatusOfAsync(client, "/_token/unknown-token-0123456789/", forwardedFor: "203.0.113.7"));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusOfAsync(client, "/_token/unknown-token-0123456789/", forwardedFor: "203.0.113.7"));
        Assert.Equal(HttpStatusCode.NotFound, await StatusOfAsync(client, "/_token/unknown-token-0123456789/", forwardedFor: "203.0.113.8")); // another client
    }

    [Fact]
    public async Task Without_listed_proxies_forwarded_headers_decide_nothing()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate);
        var token = "unproxied-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(gateway.Address), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);
        using var client = fixture.Certificate.CreateClient(gateway.Address);

        Assert.Equal(HttpStatusCode.OK, await StatusOfAsync(client, "/_stats", forwardedFor: "203.0.113.7"));
        var echo = await SendAsync(client, $"/_token/{token}/echo/x", forwardedFor: "203.0.113.7", forwardedProto: "http");
        Assert.Contains("header:x-forwarded-for=127.0.0.1\n", echo, StringComparison.Ordinal);
        Assert.Contains("header:x-forwarded-proto=https\n", echo, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_entry_that_is_not_an_address_or_network_stops_the_gateway_naming_it_and_its_source()
    {
        using var directory = new TemporaryDirectory();
        var config = directory.WriteFile("appsettings.json", """{ "ForwardedHeaders": { "KnownProxies": [ "10.0.0.0/8", "proxy.example.com" ] } }""");
        using var process = CliProcess.Start(["server", "--urls", "http://127.0.0.1:0", "--config", config]);

        Assert.Equal(2, await process.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains($"ForwardedHeaders:KnownProxies:1 must be an IP address or a CIDR network such as 10.0.0.5 or 10.0.0.0/8 (got 'proxy.example.com'). (set in the file {config})",
            process.Output, StringComparison.Ordinal);
    }

    private static async Task<string> SendAsync(HttpClient client, string path, string? forwardedFor, string? forwardedProto)
    {
        using var request = Request(path, forwardedFor);
        if (forwardedProto is not null)
        {
            request.Headers.Add("X-Forwarded-Proto", forwardedProto);
        }

        using var response = await client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    private static async Task<HttpStatusCode> StatusOfAsync(HttpClient client, string path, string? forwardedFor)
    {
        using var request = Request(path, forwardedFor);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    private static HttpRequestMessage Request(string path, string? forwardedFor)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        return request;
    }
}
