using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WStunnel.Server.Configuration;
using WStunnel.Server.Addressing;
using WStunnel.Server.Registry;
using WStunnel.Server.Security;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms.Builder;

namespace WStunnel.Server.Tests.Addressing;

public sealed class TunnelTransformProviderTests
{
    [Fact]
    public void ValidateCluster_accepts_a_tunnel_the_configuration_names_before_the_registry_has_taken_it_up()
    {
        // A route and its tunnel added in one change: YARP may validate the route first.
        var errors = Validate("wstunnel://late", new Dictionary<string, string?> { ["WStunnel:Tunnels:late:Token"] = "late-tunnel-token-0123456789" });

        Assert.Empty(errors);
    }

    [Fact]
    public void ValidateCluster_refuses_a_tunnel_neither_the_registry_nor_the_configuration_knows()
    {
        var error = Assert.Single(Validate("wstunnel://nowhere", []));

        Assert.Contains("no tunnel of that name is configured under WStunnel:Tunnels", error.Message, StringComparison.Ordinal);
    }

    private static IList<Exception> Validate(string destination, Dictionary<string, string?> configuration)
    {
        var options = Options.Create(new WStunnelOptions());
        using var registry = new TunnelRegistry(options, TimeProvider.System);
        var limiter = new ClientRateLimiter(new LiveSettings(options));
        using var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(configuration).Build())
            .BuildServiceProvider();
        var provider = new TunnelTransformProvider(registry, limiter, options, NullLogger<TunnelTransformProvider>.Instance, services);
        var context = new TransformClusterValidationContext
        {
            Services = services,
            Cluster = new ClusterConfig
            {
                ClusterId = "late",
                Destinations = new Dictionary<string, DestinationConfig> { ["agent"] = new() { Address = destination } },
            },
        };

        provider.ValidateCluster(context);
        return context.Errors;
    }
}
