using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WStunnel.Agent;

namespace WStunnel.Cli.Hosting;

/// <summary>
/// SIGHUP makes the agent read its token and secret files at once (<c>systemctl reload</c>), and
/// reconnect when they changed. Unhandled, SIGHUP would end the agent abruptly, requests in flight
/// and all.
/// </summary>
internal sealed partial class AgentReloadOnHangUp : IHostedService, IDisposable
{
    private readonly IDisposable? _registration;

    public AgentReloadOnHangUp(AgentHostedService agent, ILogger<AgentReloadOnHangUp> logger)
    {
        ArgumentNullException.ThrowIfNull(agent);
        _registration = HangUpSignal.Register(() =>
        {
            HangUp(logger);
            agent.Agent.ReloadCredentials();
        });
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _registration?.Dispose();

    [LoggerMessage(3008, LogLevel.Information, "SIGHUP: reading the agent's credential files again")]
    private static partial void HangUp(ILogger logger);
}
