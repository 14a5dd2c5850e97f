using Microsoft.AspNetCore.Builder;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>A gateway of its own with a <see cref="FaultRelay"/> in front for agents, and a client that calls the gateway directly.</summary>
internal sealed class RelayedGateway : IAsyncDisposable
{
    private RelayedGateway(WebApplication gateway, FaultRelay relay, HttpClient client)
    {
        Gateway = gateway;
        Relay = relay;
        Client = client;
    }

    public WebApplication Gateway { get; }

    public FaultRelay Relay { get; }

    public HttpClient Client { get; }

    public static async Task<RelayedGateway> StartAsync(TunnelFixture fixture, Action<WebApplicationBuilder>? configure = null)
    {
        var gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, configure);
        var address = TunnelFixture.AddressOf(gateway);
        return new RelayedGateway(gateway, FaultRelay.Start(address.Port), fixture.Certificate.CreateClient(address));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Relay.DisposeAsync();
        await Gateway.DisposeAsync();
    }
}
