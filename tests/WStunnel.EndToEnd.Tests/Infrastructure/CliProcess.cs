using System.Diagnostics;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>Runs the real <c>wstunnel</c> executable (built beside the tests) as an operator would.</summary>
internal sealed class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];

    private CliProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>SIGKILL: the process gets no chance to say goodbye, as when a machine loses power.</summary>
    public void Kill()
    {
        _process.Kill();
        _process.WaitForExit(10_000);
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    /// <param name="workingDirectory">Where the process starts (the tests' build directory unless given).</param>
    public static CliProcess Start(IEnumerable<string> arguments, IDictionary<string, string>? environment = null, string? workingDirectory = null) =>
        StartCommand("dotnet", ["exec", Path.Combine(AppContext.BaseDirectory, "wstunnel.dll"), .. arguments], workingDirectory ?? AppContext.BaseDirectory, environment);

    /// <summary>The configuration the tests were built in (bin/CONFIGURATION/net10.0/).</summary>
    public static string BuildConfiguration => new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;

    /// <summary>The clone the tests run from.</summary>
    public static string RepositoryRoot
    {
        get
        {
            var root = AppContext.BaseDirectory;
            while (!File.Exists(Path.Combine(root, "WStunnel.sln")))
            {
                root = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(root)) ?? throw new InvalidOperationException("repository root not found");
            }

            return root;
        }
    }

    /// <summary>Runs a sample as built by the solution, in the same configuration as the tests.</summary>
    public static CliProcess StartSample(string name, IEnumerable<string> arguments, IDictionary<string, string>? environment = null)
    {
        var dll = Path.Combine(RepositoryRoot, "samples", name, "bin", BuildConfiguration, "net10.0", name + ".dll");
        return File.Exists(dll)
            ? StartDll(dll, arguments, environment)
            : throw new InvalidOperationException($"{dll} is missing: build the solution first (dotnet build WStunnel.sln)");
    }

    /// <summary>Waits for an output line containing <paramref name="fragment"/> and returns it.</summary>
    public async Task<string> WaitForOutputAsync(string fragment, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            lock (_output)
            {
                var line = _output.FirstOrDefault(l => l.Contains(fragment, StringComparison.Ordinal));
                if (line is not null)
                {
                    return line;
                }
            }

            if (_process.HasExited)
            {
                break;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"no output containing '{fragment}'; got:\n{Output}");
    }

    public static CliProcess StartDll(string dll, IEnumerable<string> arguments, IDictionary<string, string>? environment) =>
        StartCommand("dotnet", ["exec", dll, .. arguments], Path.GetDirectoryName(dll)!, environment);

    /// <summary>Runs <c>wstunnel</c> through <paramref name="launcher"/> (e.g. <c>nohup</c>), as an operator's shell line would.</summary>
    public static CliProcess StartUnder(string launcher, IEnumerable<string> arguments, IDictionary<string, string>? environment = null) =>
        StartCommand(launcher, ["dotnet", "exec", Path.Combine(AppContext.BaseDirectory, "wstunnel.dll"), .. arguments], AppContext.BaseDirectory, environment);

    private static CliProcess StartCommand(string command, IEnumerable<string> arguments, string directory, IDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(command, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the wstunnel process");
        var cliProcess = new CliProcess(process);
        process.OutputDataReceived += (_, e) => cliProcess.Add(e.Data);
        process.ErrorDataReceived += (_, e) => cliProcess.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cliProcess;
    }

    public static CliProcess StartAgent(TunnelFixture fixture, string token, IDictionary<string, string>? environment = null, string[]? extraArguments = null)
    {
        var env = new Dictionary<string, string>(environment ?? new Dictionary<string, string>()) { ["WSTUNNEL_TOKEN"] = token };
        return Start(["agent", "--server", fixture.AgentServerUri.ToString(), "--ca-cert", fixture.Certificate.CaFile, "--target", fixture.Backend.Address.ToString(), .. extraArguments ?? []], env);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException ex)
        {
            throw new TimeoutException($"the process did not exit within {timeout}; its output:\n{Output}", ex);
        }

        return _process.ExitCode;
    }

    /// <summary>The inotify watches the process holds (Linux: the sum over its inotify descriptors in /proc).</summary>
    public int InotifyWatches()
    {
        var watches = 0;
        foreach (var info in Directory.EnumerateFiles($"/proc/{Id}/fdinfo"))
        {
            try
            {
                watches += File.ReadLines(info).Count(line => line.StartsWith("inotify wd:", StringComparison.Ordinal));
            }
            catch (IOException)
            {
                // closed meanwhile
            }
        }

        return watches;
    }

    private void Add(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.Add(line);
            }
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
    }
}
