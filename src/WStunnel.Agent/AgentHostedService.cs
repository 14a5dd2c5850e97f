using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WStunnel.Agent;

/// <summary>Runs the agent for the lifetime of the host.</summary>
internal sealed class AgentHostedService(IOptions<WStunnelAgentOptions> options, ILogger<TunnelAgent> logger, TimeProvider time) : BackgroundService
{
    private TunnelAgent? _agent;

    public TunnelAgent Agent => _agent ??= new TunnelAgent(options.Value, logger, time);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Agent.RunAsync(stoppingToken);

    public override void Dispose()
    {
        _agent?.Dispose();
        base.Dispose();
    }
}
