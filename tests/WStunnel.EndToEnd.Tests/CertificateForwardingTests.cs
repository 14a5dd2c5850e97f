using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
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

    private Task<WebApplication> StartGatewayAsync(string proxies) =>
        TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder =>
        {
            builder.Configuration["WStunnel:AgentCertificates:Required"] = "true";
            builder.Configuration["WStunnel:AgentCertificates:TrustedCaFile"] = fixture.Certificate.CaFile;
            builder.Configuration["WStunnel:AgentCertificates:ForwardedHeader"] = "X-Client-Cert";
            builder.Configuration["WStunnel:AgentCertificates:ForwardingProxies:0"] = proxies;
        });

    /// <summary>A long-poll registration (the simplest to make by hand) carrying the forwarded certificate.</summary>
    private async Task<HttpResponseMessage> RegisterAsync(WebApplication gateway, string forwardedCertificate)
    {
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(gateway)); // no certificate in TLS
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_tunnel/connect") { Content = new ByteArrayContent([]) };
        request.Headers.Add("X-WStunnel-Token", "forwarded-" + Guid.NewGuid().ToString("N"));
        request.Headers.Add("X-Client-Cert", forwardedCertificate);
        return await client.SendAsync(request);
    }
}
