using Microsoft.Extensions.Logging;

namespace WStunnel.Agent.Tests;

/// <summary>Keeps every formatted log line, to assert on what the agent said.</summary>
internal sealed class RecordingLogger : ILogger
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public int Count(string prefix) => Lines.Count(line => line.StartsWith(prefix, StringComparison.Ordinal));

    public async Task WaitForAsync(Func<IReadOnlyList<string>, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition(Lines))
        {
            Assert.True(DateTime.UtcNow < deadline, "log never showed what was expected:\n" + string.Join('\n', Lines));
            await Task.Delay(10);
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines)
        {
            _lines.Add(formatter(state, exception));
        }
    }
}
