using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Server.Diagnostics;

namespace WStunnel.Server.Tests.Diagnostics;

public sealed class RequestLoggingCheckTests
{
    [Fact]
    public async Task Request_logging_at_Information_is_warned_about_naming_the_category_and_the_safe_form()
    {
        var lines = await StartWithAsync(LogLevel.Information);

        var warning = Assert.Single(lines, line => line.EventId == 1034);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("Microsoft.AspNetCore.Hosting.Diagnostics", warning.Message, StringComparison.Ordinal);
        Assert.Contains("/_token/", warning.Message, StringComparison.Ordinal);
        Assert.Contains("X-Token", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_logging_at_Warning_says_nothing() =>
        Assert.DoesNotContain(await StartWithAsync(LogLevel.Warning), line => line.EventId == 1034);

    private static async Task<IReadOnlyCollection<(int EventId, LogLevel Level, string Message)>> StartWithAsync(LogLevel hostingLevel)
    {
        var provider = new RecordingProvider();
        using var loggers = LoggerFactory.Create(logging => logging
            .SetMinimumLevel(LogLevel.Information)
            .AddFilter(RequestLoggingCheck.HostingCategory, hostingLevel)
            .AddProvider(provider));
        var check = new RequestLoggingCheck(loggers, Options.Create(new WStunnelOptions()), loggers.CreateLogger<RequestLoggingCheck>());

        await check.StartAsync(CancellationToken.None);

        return provider.Lines;
    }

    private sealed class RecordingProvider : ILoggerProvider, ILogger
    {
        private readonly ConcurrentQueue<(int, LogLevel, string)> _lines = new();

        public IReadOnlyCollection<(int EventId, LogLevel Level, string Message)> Lines => _lines;

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _lines.Enqueue((eventId.Id, logLevel, formatter(state, exception)));

        public void Dispose()
        {
        }
    }
}
