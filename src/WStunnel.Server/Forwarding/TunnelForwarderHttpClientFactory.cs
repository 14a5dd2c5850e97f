using Yarp.ReverseProxy.Forwarder;

namespace WStunnel.Server.Forwarding;

/// <summary>
/// Decorates the <see cref="IForwarderHttpClientFactory"/> that was registered before WStunnel: every
/// cluster keeps the client that factory builds, wrapped so <c>wstunnel://</c> destinations go through
/// the tunnel. The wrapper owns no agent connection; sessions belong to the registry.
/// </summary>
internal sealed class TunnelForwarderHttpClientFactory(IForwarderHttpClientFactory inner, TunnelForwarder tunnel) : IForwarderHttpClientFactory
{
    public IForwarderHttpClientFactory Inner => inner;

    public HttpMessageInvoker CreateClient(ForwarderHttpClientContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var old = context.OldClient as TunnelAwareHttpMessageInvoker;
        var innerClient = inner.CreateClient(old is null ? context : new ForwarderHttpClientContext
        {
            ClusterId = context.ClusterId,
            OldConfig = context.OldConfig,
            OldMetadata = context.OldMetadata,
            OldClient = old.Inner,
            NewConfig = context.NewConfig,
            NewMetadata = context.NewMetadata,
        });
        return old is not null && ReferenceEquals(innerClient, old.Inner)
            ? old
            : new TunnelAwareHttpMessageInvoker(innerClient, tunnel);
    }

    /// <summary>The client handed to YARP; remembers the inner client so reuse decisions stay the inner factory's.</summary>
    internal sealed class TunnelAwareHttpMessageInvoker(HttpMessageInvoker innerClient, TunnelForwarder tunnel)
        : HttpMessageInvoker(new TunnelRoutingHandler(innerClient, tunnel), disposeHandler: true)
    {
        public HttpMessageInvoker Inner { get; } = innerClient;
    }
}
