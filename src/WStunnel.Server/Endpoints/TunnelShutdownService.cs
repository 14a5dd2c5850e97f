using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Endpoints;

/// <summary>
/// When the gateway stops, tells every agent to go away and lets requests in flight finish within
/// the grace period, so Kestrel's own shutdown is not held up by open tunnels.
/// </summary>
internal sealed class TunnelShutdownService(
    TunnelRegistry registry,
    IHostApplicationLifetime lifetime,
    IOptions<WStunnelOptions> options,
    ILogger<TunnelShutdownService> logger) : IHostedService
{
    private CancellationTokenRegistration _registration;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _registration = lifetime.ApplicationStopping.Register(CloseAll);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _registration.Dispose();
        return Task.CompletedTask;
    }

    private void CloseAll()
    {
        registry.Stop();
        var sessions = registry.Sessions;
        var grace = options.Value.ShutdownGracePeriod;
        ServerLog.ShuttingDown(logger, sessions.Count, grace);
        foreach (var session in sessions)
        {
            _ = session.CloseAsync(grace);
        }
    }
}
