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
    private readonly ILogger _logger;

    public AgentReloadOnHangUp(AgentHostedService agent, ILogger<AgentReloadOnHangUp> logger)
    {
        ArgumentNullException.ThrowIfNull(agent);
        _logger = logger;
        _registration = HangUpSignal.Register(() =>
        {
            HangUp(logger);
            agent.Agent.ReloadCredentials();
        });
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_registration is not null)
        {
            HangUpSignal.WarnIfIgnored(_logger, "read its token and secret files again");
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _registration?.Dispose();

    [LoggerMessage(3008, LogLevel.Information, "SIGHUP: reading the agent's credential files again")]
    private static partial void HangUp(ILogger logger);
}
