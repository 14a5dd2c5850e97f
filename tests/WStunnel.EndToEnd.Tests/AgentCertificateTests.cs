using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>A gateway that admits only agents with a client certificate from its own CA.</summary>
public sealed class AgentCertificateTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>, IAsyncLifetime
{
    private readonly ListLogger _gatewayLog = new();
    private WebApplication _gateway = null!;

    public async Task InitializeAsync() =>
        _gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder =>
        {
            builder.Configuration["WStunnel:AgentCertificates:Required"] = "true";
            builder.Configuration["WStunnel:AgentCertificates:TrustedCaFile"] = fixture.Certificate.CaFile;
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

        Assert.Contains("403", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
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
    public async Task A_trusted_certificate_not_meant_for_client_authentication_is_refused()
    {
        using var certificate = fixture.Certificate.IssueClientCertificate("server-only", clientAuthentication: false);
        var log = new ListLogger();
        await using var agent = await StartAgentAsync("server-eku-" + Guid.NewGuid().ToString("N"), AgentTransport.WebSocket, certificate, waitForTunnel: false, log);

        Assert.Contains("403", await log.WaitForAsync("Could not open the tunnel"), StringComparison.Ordinal);
        Assert.Contains("CN=server-only", await _gatewayLog.WaitForAsync("is not trusted"), StringComparison.Ordinal);
    }

    private Task<RunningAgent> StartAgentAsync(string token, AgentTransport transport, ClientCertificateFiles? certificate, bool waitForTunnel, ListLogger? log = null) =>
        RunningAgent.StartAsync(TunnelFixture.AgentServer(TunnelFixture.AddressOf(_gateway)), token, fixture.Backend.Address, fixture.Certificate.CaFile, o =>
        {
            o.Transport = transport;
            o.ClientCertificateFile = certificate?.CertificateFile;
            o.ClientKeyFile = certificate?.KeyFile;
        }, waitForTunnel: waitForTunnel, logger: log);
}
