using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using WStunnel.Server;
using WStunnel.Server.Addressing;
using WStunnel.Server.Configuration;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Endpoints;
using WStunnel.Server.Forwarding;
using WStunnel.Server.Registry;
using WStunnel.Server.Security;
using WStunnel.Server.Status;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds WStunnel to a YARP reverse proxy.</summary>
public static class WStunnelReverseProxyBuilderExtensions
{
    /// <summary>
    /// Adds the WStunnel extension: agents register through <c>MapWStunnel()</c>, requests that carry
    /// an agent's token (Host label, <c>X-Token</c> header or <c>/_token/TOKEN/</c> prefix) or whose
    /// cluster targets <c>wstunnel://NAME</c> travel through that agent's tunnel. Options bind from the
    /// <c>WStunnel</c> configuration section and are validated at start-up.
    /// </summary>
    /// <remarks>Call <c>ConfigureHttpClient</c>, if you use it, before this method: WStunnel wraps the client factory registered before it.</remarks>
    public static IReverseProxyBuilder AddWStunnel(this IReverseProxyBuilder builder, Action<WStunnelOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (services.Any(d => d.ServiceType == typeof(TunnelRegistry)))
        {
            throw new InvalidOperationException("AddWStunnel() was called twice.");
        }

        var options = services.AddOptions<WStunnelOptions>().BindConfiguration(WStunnelOptions.SectionName);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WStunnelOptions>, WStunnelOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<LiveSettings>();
        services.AddSingleton<TunnelRegistry>();
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<TunnelForwarder>();
        services.AddSingleton<AgentAdmission>();
        services.AddSingleton<ClientRateLimiter>();
        services.AddSingleton<AgentCertificateValidator>();
        services.AddSingleton<TunnelSessionRunner>();
        services.AddSingleton<TlsBufferRelease>();
        services.AddSingleton<WebSocketEndpoint>();
        services.AddSingleton<AgentRoutes>();
        services.AddSingleton<LongPollEndpoints>();
        services.AddSingleton<IProxyConfigProvider, TokenRoutesConfigProvider>();
        services.AddSingleton<GatewayStatus>();
        services.AddSingleton<StatusEndpoints>();
        services.AddHealthChecks().AddCheck<TunnelGatewayHealthCheck>("wstunnel");
        services.AddHostedService<TunnelShutdownService>();
        services.AddHostedService<ForwarderFactoryCheck>();
        services.AddHostedService<RequestLoggingCheck>();
        services.AddHostedService<WStunnelConfigurationWatcher>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IStartupFilter, WebSocketsStartupFilter>());
        builder.AddTransforms<TunnelTransformProvider>();
        DecorateClientFactory(services);
        return builder;
    }

    private static void DecorateClientFactory(IServiceCollection services)
    {
        // YARP's own registration stays first so its ConfigureHttpClient check keeps working; ours is
        // added last and wraps whichever factory was registered last before it.
        var inner = services.LastOrDefault(d => d.ServiceType == typeof(IForwarderHttpClientFactory) && !d.IsKeyedService)
            ?? throw new InvalidOperationException("Call AddReverseProxy() before AddWStunnel().");
        services.AddSingleton<IForwarderHttpClientFactory>(provider =>
            new TunnelForwarderHttpClientFactory(Create(provider, inner), provider.GetRequiredService<TunnelForwarder>()));
    }

    private static IForwarderHttpClientFactory Create(IServiceProvider provider, ServiceDescriptor descriptor) =>
        (IForwarderHttpClientFactory)(descriptor.ImplementationInstance
            ?? descriptor.ImplementationFactory?.Invoke(provider)
            ?? ActivatorUtilities.CreateInstance(provider, descriptor.ImplementationType!));
}
