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
    // Thread-safe: a signal handler may ask for it while the host starts.
    private readonly Lazy<TunnelAgent> _agent = new(() => new TunnelAgent(options.Value, logger, time, new AgentMetrics(meterFactory)));

    public TunnelAgent Agent => _agent.Value;

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
        if (_agent.IsValueCreated)
        {
            _agent.Value.Dispose();
        }
        base.Dispose();
    }
}
