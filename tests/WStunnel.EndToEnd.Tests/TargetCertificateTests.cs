using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// An <c>https://</c> target is verified like any server: by the system's roots, or by a private CA
/// the agent is given (<c>--target-ca-cert</c>), and for its name; <c>--insecure-target</c> alone skips it.
/// </summary>
public sealed class TargetCertificateTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Fact]
    public async Task A_target_whose_certificate_the_agent_cannot_verify_gets_no_request_and_the_client_a_502()
    {
        await using var target = await HttpsTarget.StartAsync(fixture.Certificate.Server);
        var log = new ListLogger();
        var (status, _) = await GetThroughAgentAsync(target, log, configure: null);

        Assert.Equal(HttpStatusCode.BadGateway, status);
        Assert.Equal(0, target.Hits);
        var rejection = await log.WaitForAsync("was rejected");
        Assert.Contains("does not lead to a root this machine trusts", rejection, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_target_certificate_from_the_CA_given_for_targets_is_trusted()
    {
        await using var target = await HttpsTarget.StartAsync(fixture.Certificate.Server);
        var (status, body) = await GetThroughAgentAsync(target, new ListLogger(), o => o.TargetCaCertificateFile = fixture.Certificate.CaFile);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("hello over https", body);
    }

    [Fact]
    public async Task The_CA_given_for_targets_does_not_excuse_a_certificate_for_another_name()
    {
        using var elsewhere = fixture.Certificate.IssueServerCertificate("elsewhere.test");
        await using var target = await HttpsTarget.StartAsync(elsewhere);
        var log = new ListLogger();
        var (status, _) = await GetThroughAgentAsync(target, log, o => o.TargetCaCertificateFile = fixture.Certificate.CaFile);

        Assert.Equal(HttpStatusCode.BadGateway, status);
        Assert.Equal(0, target.Hits);
        Assert.Contains("it names elsewhere.test", await log.WaitForAsync("was rejected"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Insecure_target_accepts_a_certificate_nobody_vouches_for()
    {
        await using var target = await HttpsTarget.StartAsync(fixture.Certificate.Server);
        var (status, body) = await GetThroughAgentAsync(target, new ListLogger(), o => o.InsecureTarget = true);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("hello over https", body);
    }

    private async Task<(HttpStatusCode Status, string Body)> GetThroughAgentAsync(HttpsTarget target, ListLogger log, Action<WStunnelAgentOptions>? configure)
    {
        var token = "https-target-" + Guid.NewGuid().ToString("N");
        await using var agent = await RunningAgent.StartAsync(fixture.AgentServerUri, token, target.Address, fixture.Certificate.CaFile, configure, logger: log);
        await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);
        using var response = await fixture.Client.GetAsync($"/_token/{token}/hello");
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>A local server that speaks only HTTPS, with the certificate it is given.</summary>
    private sealed class HttpsTarget : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _hits;

        private HttpsTarget(WebApplication app) => _app = app;

        public Uri Address { get; private set; } = null!;

        public int Hits => Volatile.Read(ref _hits);

        public static async Task<HttpsTarget> StartAsync(X509Certificate2 certificate)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseKestrelHttpsConfiguration();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var target = new HttpsTarget(app);
            app.MapGet("/hello", () =>
            {
                Interlocked.Increment(ref target._hits);
                return "hello over https";
            });
            await app.StartAsync();
            target.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            return target;
        }

        public ValueTask DisposeAsync() => _app.DisposeAsync();
    }
}
