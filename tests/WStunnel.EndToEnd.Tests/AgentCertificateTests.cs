using Microsoft.AspNetCore.Authentication.Certificate;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server.Registry;

namespace WStunnel.EndToEnd.Tests;

/// <summary>A gateway that admits only agents with a client certificate from its own CA.</summary>
public sealed class AgentCertificateTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>, IAsyncLifetime
{
    private const string BoundToken = "bound-tunnel-token-0123456789";
    private readonly ListLogger _gatewayLog = new();
    private WebApplication _gateway = null!;

    public async Task InitializeAsync() =>
        _gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder =>
        {
            builder.Configuration["WStunnel:AgentCertificates:Required"] = "true";
            builder.Configuration["WStunnel:AgentCertificates:TrustedCaFile"] = fixture.Certificate.CaFile;
            builder.Configuration["WStunnel:Tunnels:bound:Token"] = BoundToken;
            builder.Configuration["WStunnel:Tunnels:bound:AgentIdentities:0"] = "CN=bound-agent";
            builder.Logging.AddProvider(new ListLoggerProvider(_gatewayLog));
        }, https =>
        {
            https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
            https.ClientCertificateValidation = static (_, _, _) => true; // judged at registration, against the configured CA
        });

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Theory]
    [InlineData(AgentTransport.WebSocket)]
    [InlineData(AgentTransport.LongPoll)]
    public async Task An_agent_with_a_certificate_from_the_trusted_CA_serves_its_tunnel(AgentTransport transport)
    {
        using var certificate = fixture.Certificate.IssueClientCertificate("agent-" + transport);
        var token = "certified-" + Guid.NewGuid().ToString("N");
        await using var agent = await StartAgentAsync(token, transport, certificate, waitForTunnel: true);
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(_gateway));

        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Fact]
    public async Task An_agent_without_a_certificate_is_refused_with_403()
    {
        var log = new ListLogger();
        await using var agent = await StartAgentAsync("uncertified-" + Guid.NewGuid().ToString("N"), AgentTransport.WebSocket, null, waitForTunnel: false, log);

        var refused = await log.WaitForAsync("Could not open the tunnel");
        Assert.Contains("403", refused, StringComparison.Ordinal);
        Assert.Contains("its answer: This gateway admits only agents with a client certificate it trusts (WStunnel:AgentCertificates).", refused, StringComparison.Ordinal);
        Assert.Contains("no client certificate", await _gatewayLog.WaitForAsync("refused with 403"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_from_another_CA_is_refused_and_named_in_the_log()
    {
        using var stranger = TestCertificate.Create();
        using var certificate = stranger.IssueClientCertificate("intruder");
        var log = new ListLogger();
        await using var agent = await StartAgentAsync("stranger-" + Guid.NewGuid().ToString("N"), AgentTransport.WebSocket, certificate, waitForTunnel: false, log);

        Assert.Contains("403", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        Assert.Contains("CN=intruder", await _gatewayLog.WaitForAsync("is not trusted"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_expired_certificate_from_the_trusted_CA_is_refused()
    {
        using var certificate = fixture.Certificate.IssueClientCertificate("expired-agent", expired: true);
        var log = new ListLogger();
        await using var agent = await StartAgentAsync("expired-" + Guid.NewGuid().ToString("N"), AgentTransport.WebSocket, certificate, waitForTunnel: false, log);

        Assert.Contains("403", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        Assert.Contains("NotTimeValid", await _gatewayLog.WaitForAsync("CN=expired-agent"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_trusted_certificate_not_meant_for_client_authentication_is_refused()
    {
        using var certificate = fixture.Certificate.IssueClientCertificate("server-only", clientAuthentication: false);
        var log = new ListLogger();
        await using var agent = await StartAgentAsync("server-eku-" + Guid.NewGuid().ToString("N"), AgentTransport.WebSocket, certificate, waitForTunnel: false, log);

        Assert.Contains("403", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        Assert.Contains("CN=server-only", await _gatewayLog.WaitForAsync("is not trusted"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Certificate_headers_sent_by_a_client_are_never_taken_for_a_certificate()
    {
        using var files = fixture.Certificate.IssueClientCertificate("forged-header");
        var der = Convert.ToBase64String(System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(files.CertificateFile)).RawData);
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(_gateway)); // presents no certificate in TLS
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_tunnel/connect") { Content = new ByteArrayContent([]) };
        request.Headers.Add("X-WStunnel-Token", "forged-" + Guid.NewGuid().ToString("N"));
        request.Headers.Add("X-ARR-ClientCert", der);
        request.Headers.Add("X-Client-Cert", der);
        request.Headers.Add("ssl-client-cert", der);

        using var response = await client.SendAsync(request);

        Assert.Equal(System.Net.HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("no client certificate", await _gatewayLog.WaitForAsync("refused with 403"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_belongs_to_the_identity_that_registered_it_first_and_only_it_may_come_back()
    {
        using var alpha = fixture.Certificate.IssueClientCertificate("alpha");
        using var beta = fixture.Certificate.IssueClientCertificate("beta");
        var token = "owned-" + Guid.NewGuid().ToString("N");
        await using var owner = await StartAgentAsync(token, AgentTransport.WebSocket, alpha, waitForTunnel: true);
        var registry = _gateway.Services.GetRequiredService<TunnelRegistry>();
        var session = registry.FindByToken(token)!.Session;

        var log = new ListLogger();
        await using var other = await StartAgentAsync(token, AgentTransport.WebSocket, beta, waitForTunnel: false, log);
        Assert.Contains("403", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        var warning = await _gatewayLog.WaitForAsync("is not an identity this tunnel admits");
        Assert.Contains("CN=beta", warning, StringComparison.Ordinal);
        Assert.DoesNotContain(token, warning, StringComparison.Ordinal);
        Assert.Same(session, registry.FindByToken(token)!.Session);

        // The owner's identity coming back (a restarted agent) takes its tunnel over.
        await using var restarted = await StartAgentAsync(token, AgentTransport.WebSocket, alpha, waitForTunnel: true);
        await Eventually.WaitUntil(() => !ReferenceEquals(session, registry.FindByToken(token)!.Session), "the owner's new session to replace the old one");
    }

    [Fact]
    public async Task A_renewed_certificate_with_the_same_names_from_the_same_CA_keeps_its_token()
    {
        using var original = fixture.Certificate.IssueClientCertificate("renewed-agent");
        using var renewed = fixture.Certificate.IssueClientCertificate("renewed-agent"); // new key, new thumbprint
        var token = "renewal-" + Guid.NewGuid().ToString("N");
        await (await StartAgentAsync(token, AgentTransport.WebSocket, original, waitForTunnel: true)).DisposeAsync();

        await using var restarted = await StartAgentAsync(token, AgentTransport.WebSocket, renewed, waitForTunnel: true);
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(_gateway));
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
    }

    [Theory]
    [InlineData(AgentTransport.WebSocket)]
    [InlineData(AgentTransport.LongPoll)]
    public async Task A_running_agent_presents_its_renewed_certificate_from_its_next_connection_on(AgentTransport transport)
    {
        var presented = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder =>
        {
            builder.Configuration["WStunnel:AgentCertificates:Required"] = "true";
            builder.Configuration["WStunnel:AgentCertificates:TrustedCaFile"] = fixture.Certificate.CaFile;
        }, https =>
        {
            https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
            https.ClientCertificateValidation = (certificate, _, _) =>
            {
                presented.Enqueue(certificate.Thumbprint);
                return true;
            };
        });
        await using var relay = FaultRelay.Start(TunnelFixture.AddressOf(gateway).Port);
        using var files = fixture.Certificate.IssueClientCertificate("rotating-agent");
        using var renewal = fixture.Certificate.IssueClientCertificate("rotating-agent");
        var token = "rotating-" + Guid.NewGuid().ToString("N");
        var log = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(new Uri($"wss://localhost:{relay.Port}"), token, fixture.Backend.Address, fixture.Certificate.CaFile, o =>
        {
            o.Transport = transport;
            o.ClientCertificateFile = files.CertificateFile;
            o.ClientKeyFile = files.KeyFile;
        }, logger: log);

        // Renewed in place, as a renewal tool does; the open tunnel is not disturbed.
        File.Copy(renewal.KeyFile, files.KeyFile, overwrite: true);
        File.Copy(renewal.CertificateFile, files.CertificateFile, overwrite: true);
        using var renewedCertificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(renewal.CertificateFile));
        var renewed = renewedCertificate.Thumbprint;
        Assert.DoesNotContain(renewed, presented);

        await relay.ResetAndWaitForNewLinkAsync();

        await Eventually.WaitUntil(() => presented.Contains(renewed), "the agent to present its renewed certificate");
        Assert.Contains("CN=rotating-agent", await log.WaitForAsync("Client certificate reloaded"), StringComparison.Ordinal);
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(gateway));
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200")); // waits, if need be, for the session to resume
    }

    [Fact]
    public async Task A_named_tunnel_admits_only_the_identities_configured_for_it()
    {
        using var right = fixture.Certificate.IssueClientCertificate("bound-agent");
        using var wrong = fixture.Certificate.IssueClientCertificate("some-other-agent");
        var log = new ListLogger();
        await using var refused = await StartAgentAsync(BoundToken, AgentTransport.WebSocket, wrong, waitForTunnel: false, log);
        Assert.Contains("403", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        Assert.Contains("CN=some-other-agent", await _gatewayLog.WaitForAsync("is not an identity this tunnel admits"), StringComparison.Ordinal);

        await using var admitted = await StartAgentAsync(BoundToken, AgentTransport.WebSocket, right, waitForTunnel: true);
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(_gateway));
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{BoundToken}/status/200"));
    }

    [Fact]
    public async Task MapWStunnel_with_RequireAuthorization_works_with_the_certificate_authentication_handler()
    {
        // The ASP.NET Core way, instead of (or besides) WStunnel's own check: only the agent endpoints require it.
        using var trusted = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(fixture.Certificate.CaFile));
        await using var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder =>
        {
            builder.Services.AddAuthentication(CertificateAuthenticationDefaults.AuthenticationScheme).AddCertificate(o =>
            {
                o.AllowedCertificateTypes = CertificateTypes.Chained;
                o.ChainTrustValidationMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
                o.CustomTrustStore.Add(trusted);
                o.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
            });
            builder.Services.AddAuthorization();
        }, https =>
        {
            https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
            https.ClientCertificateValidation = static (_, _, _) => true;
        }, map: app =>
        {
            app.UseAuthentication();
            app.UseAuthorization();
            app.MapWStunnel().RequireAuthorization();
        });
        var server = TunnelFixture.AgentServer(TunnelFixture.AddressOf(gateway));

        var log = new ListLogger();
        await using var anonymous = await RunningAgent.StartAsync(server, "anonymous-" + Guid.NewGuid().ToString("N"), fixture.Backend.Address, fixture.Certificate.CaFile,
            o => o.Transport = AgentTransport.WebSocket, waitForTunnel: false, logger: log);
        var refusal = await log.WaitForAsync("Could not open the tunnel");
        Assert.True(refusal.Contains("401", StringComparison.Ordinal) || refusal.Contains("403", StringComparison.Ordinal), refusal);

        using var certificate = fixture.Certificate.IssueClientCertificate("authorized-agent");
        var token = "authorized-" + Guid.NewGuid().ToString("N");
        await using var authorized = await RunningAgent.StartAsync(server, token, fixture.Backend.Address, fixture.Certificate.CaFile, o =>
        {
            o.Transport = AgentTransport.WebSocket;
            o.ClientCertificateFile = certificate.CertificateFile;
            o.ClientKeyFile = certificate.KeyFile;
        });
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(gateway));
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200")); // public requests need no certificate
    }

    private Task<RunningAgent> StartAgentAsync(string token, AgentTransport transport, ClientCertificateFiles? certificate, bool waitForTunnel, ListLogger? log = null) =>
        RunningAgent.StartAsync(TunnelFixture.AgentServer(TunnelFixture.AddressOf(_gateway)), token, fixture.Backend.Address, fixture.Certificate.CaFile, o =>
        {
            o.Transport = transport;
            o.ClientCertificateFile = certificate?.CertificateFile;
            o.ClientKeyFile = certificate?.KeyFile;
        }, waitForTunnel: waitForTunnel, logger: log);
}
