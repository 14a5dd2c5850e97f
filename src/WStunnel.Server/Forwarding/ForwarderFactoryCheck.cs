using Microsoft.Extensions.Hosting;
using Yarp.ReverseProxy.Forwarder;

namespace WStunnel.Server.Forwarding;

/// <summary>
/// Fails start-up when another <see cref="IForwarderHttpClientFactory"/> was registered after
/// <c>AddWStunnel()</c> (for example by a later <c>ConfigureHttpClient</c>): tunnel clusters would
/// silently stop working otherwise.
/// </summary>
internal sealed class ForwarderFactoryCheck(IForwarderHttpClientFactory factory) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => factory is TunnelForwarderHttpClientFactory
        ? Task.CompletedTask
        : throw new InvalidOperationException(
            $"WStunnel cannot route tunnel requests: the IForwarderHttpClientFactory ({factory.GetType().Name}) was replaced after AddWStunnel(). Call ConfigureHttpClient(...) and other client-factory registrations before AddWStunnel().");

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
