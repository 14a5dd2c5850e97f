using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using WStunnel.Server.Configuration;
using WStunnel.Server.Registry;
using WStunnel.Server.Status;

namespace WStunnel.Server.Tests.Status;

public sealed class StatusEndpointsTests
{
    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("10.20.30.40", true)]
    [InlineData("192.0.2.1", false)]
    [InlineData("::ffff:192.0.2.1", false)]
    public async Task Only_loopback_and_the_allowed_networks_may_read_the_status(string caller, bool allowed)
    {
        var options = new WStunnelOptions { Status = { AllowedNetworks = { "10.0.0.0/8" } } };
        var endpoints = new StatusEndpoints(new GatewayStatus(new TunnelRegistry(Options.Create(options), TimeProvider.System)), new LiveSettings(Options.Create(options)), TimeProvider.System);
        var context = new DefaultHttpContext { Connection = { RemoteIpAddress = IPAddress.Parse(caller) }, Response = { Body = new MemoryStream() } };

        await endpoints.TextAsync(context);

        Assert.Equal(allowed ? StatusCodes.Status200OK : StatusCodes.Status403Forbidden, context.Response.StatusCode);
        var body = System.Text.Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray());
        Assert.Equal(allowed, body.StartsWith("tunnels=0\n", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Networks_the_configuration_adds_may_read_the_status_at_once()
    {
        var options = new WStunnelOptions();
        var settings = new LiveSettings(Options.Create(options));
        var endpoints = new StatusEndpoints(new GatewayStatus(new TunnelRegistry(Options.Create(options), TimeProvider.System)), settings, TimeProvider.System);
        var monitoring = IPAddress.Parse("192.0.2.9");
        Assert.Equal(StatusCodes.Status403Forbidden, await StatusOfTextAsync(endpoints, monitoring));

        settings.Apply(new WStunnelOptions { Status = { AllowedNetworks = { "192.0.2.0/24" } } });

        Assert.Equal(StatusCodes.Status200OK, await StatusOfTextAsync(endpoints, monitoring));
    }

    private static async Task<int> StatusOfTextAsync(StatusEndpoints endpoints, IPAddress caller)
    {
        var context = new DefaultHttpContext { Connection = { RemoteIpAddress = caller }, Response = { Body = new MemoryStream() } };
        await endpoints.TextAsync(context);
        return context.Response.StatusCode;
    }
}
