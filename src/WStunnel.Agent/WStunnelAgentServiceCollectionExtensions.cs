using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using WStunnel.Agent;
using WStunnel.Agent.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds a WStunnel agent to a host.</summary>
public static class WStunnelAgentServiceCollectionExtensions
{
    /// <summary>
    /// Runs a WStunnel agent as a hosted service. Options bind from the <c>WStunnelAgent</c>
    /// configuration section and are validated at start-up.
    /// </summary>
    public static IServiceCollection AddWStunnelAgent(this IServiceCollection services, Action<WStunnelAgentOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<WStunnelAgentOptions>().BindConfiguration(WStunnelAgentOptions.SectionName);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WStunnelAgentOptions>, AgentOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<AgentHostedService>();
        services.AddHostedService(provider => provider.GetRequiredService<AgentHostedService>());
        return services;
    }
}
