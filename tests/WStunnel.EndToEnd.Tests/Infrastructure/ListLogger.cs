using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>Collects log lines, so a test can wait for the one that is the interface.</summary>
internal sealed class ListLogger : ILogger
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue($"{logLevel}: {formatter(state, exception)}");

    public async Task<string> WaitForAsync(string fragment)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var line = Lines.FirstOrDefault(l => l.Contains(fragment, StringComparison.Ordinal));
            if (line is not null)
            {
                return line;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"no log line containing '{fragment}' within 30 s; got:\n{string.Join('\n', Lines)}");
    }
}

/// <summary>Routes every logger of a host into one <see cref="ListLogger"/>, with the category in front.</summary>
internal sealed class ListLoggerProvider(ListLogger sink) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new CategoryLogger(categoryName, sink);

    public void Dispose()
    {
    }

    private sealed class CategoryLogger(string category, ListLogger sink) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            sink.Lines.Enqueue($"{category} {logLevel}: {formatter(state, exception)} {exception}");
    }
}
