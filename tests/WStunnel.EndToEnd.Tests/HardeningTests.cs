using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The standalone gateway faces the internet: small request heads, a short time to send them, no
/// banners, no HTTP/3 — and the operator's <c>Kestrel:Limits</c> still take precedence.
/// </summary>
public sealed class HardeningTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>, IDisposable
{
    private readonly GatewayProcess _gateway = GatewayProcess.StartAsync(fixture.Certificate,
        kestrel: new { Limits = new { RequestHeadersTimeout = "00:00:02" } }).GetAwaiter().GetResult();

    public void Dispose() => _gateway.Dispose();

    [Fact]
    public async Task Answers_carry_no_server_banner_and_offer_no_HTTP3()
    {
        using var client = fixture.Certificate.CreateClient(_gateway.Address);

        using var response = await client.GetAsync("/_health_check");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Server"));
        Assert.False(response.Headers.Contains("Alt-Svc"));
        Assert.False(response.Headers.Contains("X-Powered-By"));
    }

    [Fact]
    public async Task A_request_with_too_many_headers_gets_431()
    {
        using var client = fixture.Certificate.CreateClient(_gateway.Address);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/_health_check");
        for (var i = 0; i < 101; i++)
        {
            request.Headers.Add($"X-Filler-{i}", "x");
        }

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task A_request_line_over_8_KiB_gets_414_without_a_banner()
    {
        var answer = await RawExchangeAsync($"GET /{new string('a', 9000)} HTTP/1.1\r\nHost: localhost\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 414", answer, StringComparison.Ordinal);
        Assert.DoesNotContain("Kestrel", answer, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Server:", answer, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_client_that_never_finishes_its_headers_is_cut_off_after_the_configured_time()
    {
        var started = DateTime.UtcNow;

        var answer = await RawExchangeAsync("GET /_health_check HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");

        // Kestrel checks once a second; 2 s configured, far below the 15 s default of the gateway.
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(12), $"cut off after {DateTime.UtcNow - started}");
        Assert.DoesNotContain("200 OK", answer, StringComparison.Ordinal);
    }

    /// <summary>Sends raw bytes over TLS and reads until the gateway closes the connection (at most 30 s).</summary>
    private async Task<string> RawExchangeAsync(string request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _gateway.Address.Port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, presented, _, _) => presented?.GetCertHashString() == fixture.Certificate.Server.GetCertHashString());
        await tls.AuthenticateAsClientAsync("localhost");
        await tls.WriteAsync(Encoding.ASCII.GetBytes(request));
        await tls.FlushAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await tls.ReadAsync(buffer, timeout.Token)) > 0)
            {
                answer.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // A reset after the answer: what arrived is what counts.
        }

        return Encoding.ASCII.GetString(answer.ToArray());
    }
}
