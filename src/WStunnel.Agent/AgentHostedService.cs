using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Agent.Diagnostics;
using WStunnel.Agent.Status;

namespace WStunnel.Agent;

/// <summary>Runs the agent for the lifetime of the host, with its metrics and, if asked for, its status file.</summary>
internal sealed class AgentHostedService(IOptions<WStunnelAgentOptions> options, ILogger<TunnelAgent> logger, TimeProvider time, IMeterFactory meterFactory)
    : BackgroundService
{
    private TunnelAgent? _agent;

    public TunnelAgent Agent => _agent ??= new TunnelAgent(options.Value, logger, time, new AgentMetrics(meterFactory));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var statusFile = settings.StatusFile is { } path ? new AgentStatusFile(path, settings.Server!, settings.Target) : null;
        if (statusFile is not null)
        {
            Agent.StateChanged += state => WriteStatus(statusFile, state, stopped: false);
            WriteStatus(statusFile, Agent.State, stopped: false);
        }

        try
        {
            await Agent.RunAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            if (statusFile is not null)
            {
                WriteStatus(statusFile, Agent.State, stopped: true);
            }
        }
    }

    private void WriteStatus(AgentStatusFile file, AgentState state, bool stopped)
    {
        try
        {
            file.Write(state, stopped);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            AgentLog.StatusFileFailed(logger, ex.Message);
        }
    }

    public override void Dispose()
    {
        _agent?.Dispose();
        base.Dispose();
    }
}
