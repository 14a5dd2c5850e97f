using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Status;

/// <summary>
/// Healthy while the gateway accepts agents; unhealthy once it is stopping, so a load balancer moves
/// clients away during the drain. Named tunnels without an agent make it degraded (still serving).
/// </summary>
internal sealed class TunnelGatewayHealthCheck(TunnelRegistry registry, IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The gateway is stopping."));
        }

        var data = new Dictionary<string, object> { ["sessions"] = registry.SessionCount, ["queued"] = registry.QueuedRequests };
        var offline = registry.Tunnels.Count(t => t.Name is not null && t.Sessions.Count == 0);
        return Task.FromResult(offline > 0
            ? HealthCheckResult.Degraded($"{offline} named tunnel(s) have no agent.", data: data)
            : HealthCheckResult.Healthy($"{registry.SessionCount} agent session(s).", data));
    }
}
