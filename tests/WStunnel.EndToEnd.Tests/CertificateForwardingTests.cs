using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// Behind a TLS-terminating proxy the agent's certificate arrives in a header. The gateway believes
/// that header only from the proxies it is told to, and judges the certificate as any other.
/// </summary>
public sealed class CertificateForwardingTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Theory]
    [InlineData("pem")]
    [InlineData("der")]
    [InlineData("rfc9440")]
    public async Task A_certificate_forwarded_by_a_configured_proxy_registers_the_agent(string form)
    {
        await using var gateway = await StartGatewayAsync("127.0.0.0/8");
        using var files = fixture.Certificate.IssueClientCertificate("forwarded-agent");
        var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(files.CertificateFile));
        var header = form switch
        {
            "pem" => Uri.EscapeDataString(certificate.ExportCertificatePem()),
            "der" => Convert.ToBase64String(certificate.RawData),
            _ => $":{Convert.ToBase64String(certificate.RawData)}:",
        };

        using var response = await RegisterAsync(gateway, header);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task The_same_header_from_an_address_that_is_not_a_configured_proxy_is_ignored()
    {
        await using var gateway = await StartGatewayAsync("192.0.2.0/24");
        using var files = fixture.Certificate.IssueClientCertificate("forwarded-agent");
        var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(files.CertificateFile));

        using var response = await RegisterAsync(gateway, Convert.ToBase64String(certificate.RawData));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task The_proxy_is_judged_by_the_connection_s_address_even_where_forwarded_headers_middleware_names_the_client()
    {
        // UseForwardedHeaders puts the client's address (X-Forwarded-For) in RemoteIpAddress; the
        // certificate header is still the proxy's word, so the proxy is the one to check.
        await using var gateway = await StartGatewayAsync("127.0.0.0/8", app =>
        {
            var forwarded = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor };
            forwarded.KnownProxies.Add(IPAddress.Loopback);
            app.UseForwardedHeaders(forwarded);
        });
        using var files = fixture.Certificate.IssueClientCertificate("forwarded-agent");
        var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(files.CertificateFile));

        using var response = await RegisterAsync(gateway, Convert.ToBase64String(certificate.RawData), forwardedFor: "203.0.113.7");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_forwarded_certificate_from_another_CA_or_garbage_is_refused()
    {
        await using var gateway = await StartGatewayAsync("127.0.0.1");
        using var other = TestCertificate.Create();
        using var files = other.IssueClientCertificate("elsewhere-agent");
        var foreign = X509Certificate2.CreateFromPem(File.ReadAllText(files.CertificateFile));

        using var fromOtherCa = await RegisterAsync(gateway, Convert.ToBase64String(foreign.RawData));
        using var garbage = await RegisterAsync(gateway, "not a certificate");

        Assert.Equal(HttpStatusCode.Forbidden, fromOtherCa.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, garbage.StatusCode);
    }

    private Task<WebApplication> StartGatewayAsync(string proxies, Action<WebApplication>? middleware = null) =>
        TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder =>
        {
            builder.Configuration["WStunnel:AgentCertificates:Required"] = "true";
            builder.Configuration["WStunnel:AgentCertificates:TrustedCaFile"] = fixture.Certificate.CaFile;
            builder.Configuration["WStunnel:AgentCertificates:ForwardedHeader"] = "X-Client-Cert";
            builder.Configuration["WStunnel:AgentCertificates:ForwardingProxies:0"] = proxies;
        }, map: app =>
        {
            middleware?.Invoke(app);
            app.MapWStunnel();
        });

    /// <summary>A long-poll registration (the simplest to make by hand) carrying the forwarded certificate.</summary>
    private async Task<HttpResponseMessage> RegisterAsync(WebApplication gateway, string forwardedCertificate, string? forwardedFor = null)
    {
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(gateway)); // no certificate in TLS
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_tunnel/connect") { Content = new ByteArrayContent([]) };
        request.Headers.Add("X-WStunnel-Token", "forwarded-" + Guid.NewGuid().ToString("N"));
        request.Headers.Add("X-Client-Cert", forwardedCertificate);
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        return await client.SendAsync(request);
    }
}
