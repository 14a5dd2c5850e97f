using System.Diagnostics;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>Runs the real <c>wstunnel</c> executable (built beside the tests) as an operator would.</summary>
internal sealed class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];

    private CliProcess(Process process) => _process = process;

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

    public static CliProcess Start(IEnumerable<string> arguments, IDictionary<string, string>? environment = null)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "wstunnel.dll");
        var start = new ProcessStartInfo("dotnet", ["exec", cli, .. arguments])
        {
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

    public static CliProcess StartAgent(TunnelFixture fixture, string token, IDictionary<string, string>? environment = null)
    {
        var env = new Dictionary<string, string>(environment ?? new Dictionary<string, string>()) { ["WSTUNNEL_TOKEN"] = token };
        return Start(["agent", "--server", fixture.AgentServerUri.ToString(), "--ca-cert", fixture.Certificate.CaFile, "--target", fixture.Backend.Address.ToString()], env);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        return _process.ExitCode;
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
