using WStunnel.Server.Registry;

namespace WStunnel.Server.Status;

/// <summary>A consistent-enough picture of every tunnel, taken from the registry on demand.</summary>
internal sealed class GatewayStatus(TunnelRegistry registry)
{
    public IReadOnlyList<TunnelStatus> Snapshot()
    {
        var agents = registry.RegisteredSessions
            .GroupBy(s => s.Tunnel)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<AgentStatus>)[.. g.OrderBy(s => s.ConnectedAt).Select(Describe)]);

        return [.. registry.Tunnels
            .Select(tunnel => new TunnelStatus(
                tunnel.DisplayName,
                tunnel.Name is not null,
                tunnel.MaxAgents,
                agents.GetValueOrDefault(tunnel) ?? [],
                tunnel.Queue.Waiting,
                tunnel.Traffic.Requests,
                tunnel.Traffic.Errors,
                tunnel.Traffic.BytesToAgent,
                tunnel.Traffic.BytesFromAgent,
                tunnel.Traffic.LastRequestAt,
                tunnel.DisconnectedAt))
            .OrderBy(t => !t.IsNamed)
            .ThenBy(t => t.Name, StringComparer.Ordinal)];
    }

    private static AgentStatus Describe(RegisteredSession registered) => new(
        registered.Agent.Address,
        registered.Agent.Certificate,
        registered.Session.TransportName,
        registered.ConnectedAt,
        !registered.Session.IsDetached,
        registered.Session.ActiveStreams,
        registered.Session.Resumptions);
}
