using Microsoft.Extensions.DependencyInjection;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server.Registry;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The agent verifies the gateway's certificate before it sends its token: a gateway it cannot verify
/// never learns the token, whatever else the agent is configured with.
/// </summary>
public sealed class GatewayVerificationTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    [Theory]
    [InlineData(AgentTransport.WebSocket, false)]
    [InlineData(AgentTransport.WebSocket, true)]
    [InlineData(AgentTransport.LongPoll, false)]
    [InlineData(AgentTransport.LongPoll, true)]
    public async Task An_agent_refuses_a_gateway_whose_certificate_comes_from_a_CA_it_does_not_trust(AgentTransport transport, bool withClientCertificate)
    {
        using var stranger = TestCertificate.Create();
        using var certificate = withClientCertificate ? fixture.Certificate.IssueClientCertificate("careful-agent") : null;

        await AssertRefusedAsync(fixture.GatewayAddress, fixture.Gateway.Services, stranger.CaFile, transport, certificate, "leads neither to a root this machine trusts nor to the CA in CaCertificateFile");
    }

    [Theory]
    [InlineData(AgentTransport.WebSocket)]
    [InlineData(AgentTransport.LongPoll)]
    [InlineData(AgentTransport.Auto)]
    public async Task An_agent_without_a_private_CA_refuses_a_certificate_the_system_does_not_trust(AgentTransport transport) =>
        await AssertRefusedAsync(fixture.GatewayAddress, fixture.Gateway.Services, caFile: null, transport, clientCertificate: null, "does not lead to a root this machine trusts");

    [Theory]
    [InlineData(AgentTransport.WebSocket)]
    [InlineData(AgentTransport.LongPoll)]
    public async Task An_agent_refuses_a_certificate_from_its_own_CA_issued_for_another_host(AgentTransport transport)
    {
        using var elsewhere = fixture.Certificate.IssueServerCertificate("elsewhere.test");
        await using var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, https: options => options.ServerCertificate = elsewhere);

        await AssertRefusedAsync(TunnelFixture.AddressOf(gateway), gateway.Services, fixture.Certificate.CaFile, transport, clientCertificate: null, "it names elsewhere.test");
    }

    private async Task AssertRefusedAsync(Uri gateway, IServiceProvider gatewayServices, string? caFile, AgentTransport transport, ClientCertificateFiles? clientCertificate, string reason)
    {
        var token = "unverified-" + Guid.NewGuid().ToString("N");
        var log = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(gateway), token, fixture.Backend.Address, caFile!, options =>
        {
            options.CaCertificateFile = caFile;
            options.Transport = transport;
            options.ClientCertificateFile = clientCertificate?.CertificateFile;
            options.ClientKeyFile = clientCertificate?.KeyFile;
        }, waitForTunnel: false, logger: log);

        var rejection = await log.WaitForAsync("was rejected, so the agent sent it nothing");
        Assert.True(rejection.Contains(reason, StringComparison.Ordinal), rejection);
        await log.WaitForAsync("Could not open the tunnel"); // and it tries again later, as after any failure
        Assert.DoesNotContain(log.Lines, line => line.Contains("falling back to HTTPS long-poll", StringComparison.Ordinal)); // the same TLS would fail again
        Assert.DoesNotContain(log.Lines, line => line.Contains(token, StringComparison.Ordinal));
        Assert.Null(gatewayServices.GetRequiredService<TunnelRegistry>().FindByToken(token)); // the token never crossed
    }
}
