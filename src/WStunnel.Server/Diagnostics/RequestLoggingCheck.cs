using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WStunnel.Server.Diagnostics;

/// <summary>
/// Warns at start-up when ASP.NET Core's request logging is on: it writes each request's Host and
/// path before any middleware runs, so tokens in the Host and path forms reach the log where
/// WStunnel cannot remove them.
/// </summary>
internal sealed class RequestLoggingCheck(ILoggerFactory loggers, IOptions<WStunnelOptions> options, ILogger<RequestLoggingCheck> logger) : IHostedService
{
    /// <summary>The category of ASP.NET Core's "Request starting" and "Request finished" lines.</summary>
    internal const string HostingCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (loggers.CreateLogger(HostingCategory).IsEnabled(LogLevel.Information))
        {
            ServerLog.RequestLoggingRecordsTokens(logger, HostingCategory, options.Value.TokenPathPrefix, options.Value.TokenHeader);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
