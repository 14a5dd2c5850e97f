using Microsoft.Extensions.Hosting;

namespace WStunnel.Cli;

/// <summary>
/// For hosts that run inside another command (the demo's gateway and backend): the command owns
/// Ctrl+C and SIGTERM, so these hosts must not install console handlers of their own.
/// </summary>
internal sealed class EmbeddedHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
