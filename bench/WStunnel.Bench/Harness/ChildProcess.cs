using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace WStunnel.Bench.Harness;

/// <summary>One process of the benchmark (backend, YARP hop, gateway, agent), with its output kept for diagnosis.</summary>
internal sealed partial class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];

    private ChildProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    public int Id => _process.Id;

    /// <summary>Runs this harness in one of its host roles.</summary>
    public static ChildProcess StartRole(string name, IEnumerable<string> arguments, IDictionary<string, string>? environment = null) =>
        Start(name, Path.Combine(AppContext.BaseDirectory, "WStunnel.Bench.dll"), arguments, environment, background: false);

    /// <summary>
    /// Runs a host role that stands in for other machines: with standard input for commands, and
    /// under Linux's idle scheduling policy (<c>chrt --idle</c>, util-linux), so any process being
    /// measured that wakes up takes a core from it at once. A low nice value is not enough: the
    /// scheduler still lets a niced process finish its time slice, a millisecond or more.
    /// </summary>
    public static ChildProcess StartBackgroundRole(string name, IEnumerable<string> arguments) =>
        Start(name, Path.Combine(AppContext.BaseDirectory, "WStunnel.Bench.dll"), arguments, environment: null, background: true);

    /// <summary>Runs the wstunnel tool built beside the harness.</summary>
    public static ChildProcess StartWstunnel(string name, IEnumerable<string> arguments, IDictionary<string, string>? environment = null) =>
        Start(name, Path.Combine(AppContext.BaseDirectory, "wstunnel.dll"), arguments, environment, background: false);

    /// <summary>Waits for Kestrel's "Now listening on" line and returns the address in it.</summary>
    public async Task<Uri> WaitForListeningAsync()
    {
        var line = await WaitForOutputAsync("Now listening on", TimeSpan.FromMinutes(1)).ConfigureAwait(false);
        return new Uri(ListeningAddress().Match(line).Value);
    }

    public async Task<string> WaitForOutputAsync(string fragment, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            lock (_output)
            {
                if (_output.FirstOrDefault(l => l.Contains(fragment, StringComparison.Ordinal)) is { } line)
                {
                    return line;
                }
            }

            if (_process.HasExited)
            {
                break;
            }

            await Task.Delay(20).ConfigureAwait(false);
        }

        throw new InvalidOperationException($"{Name}: no output containing '{fragment}'. Output:\n{Output}");
    }

    /// <summary>Sends one line to a process started with input, and waits for the line that acknowledges it.</summary>
    public async Task<string> CommandAsync(string line, string acknowledgement, TimeSpan timeout)
    {
        await _process.StandardInput.WriteLineAsync(line).ConfigureAwait(false);
        await _process.StandardInput.FlushAsync().ConfigureAwait(false);
        return await WaitForOutputAsync(acknowledgement, timeout).ConfigureAwait(false);
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output.TakeLast(40));
            }
        }
    }

    /// <summary>Resident memory now, from /proc.</summary>
    public long ResidentBytes => ReadStatus("VmRSS:");

    /// <summary>CPU time the process has used so far (user and kernel): less sensitive to a busy machine than throughput.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    private long ReadStatus(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return 1024 * long.Parse(line[field.Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    private static ChildProcess Start(string name, string dll, IEnumerable<string> arguments, IDictionary<string, string>? environment, bool background)
    {
        string[] command = ["dotnet", "exec", dll, .. arguments];
        var start = new ProcessStartInfo(background ? "chrt" : command[0], background ? ["--idle", "0", .. command] : command[1..])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = background,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {name}");
        var child = new ChildProcess(name, process);
        process.OutputDataReceived += (_, e) => child.Add(e.Data);
        process.ErrorDataReceived += (_, e) => child.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Add(line);
            if (_output.Count > 1000)
            {
                _output.RemoveRange(0, 500);
            }
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"https?://127\.0\.0\.1:\d+")]
    private static partial Regex ListeningAddress();
}
