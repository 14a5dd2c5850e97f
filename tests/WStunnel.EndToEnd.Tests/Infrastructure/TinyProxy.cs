using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>A real HTTP CONNECT proxy (Debian's tinyproxy) on 127.0.0.1, run in the foreground from its own config.</summary>
internal sealed class TinyProxy : IDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private TinyProxy(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public string Log => File.Exists(Path.Combine(_directory, "tinyproxy.log")) ? File.ReadAllText(Path.Combine(_directory, "tinyproxy.log")) : "";

    public static async Task<TinyProxy> StartAsync(string? basicAuth = null, int? onlyConnectPort = null)
    {
        var directory = Directory.CreateTempSubdirectory("wstunnel-tinyproxy-").FullName;
        var port = FreePort();
        var config = $"""
            Port {port}
            Listen 127.0.0.1
            Allow 127.0.0.1
            Timeout 600
            LogLevel Info
            MaxClients 100
            LogFile "{directory}/tinyproxy.log"
            PidFile "{directory}/tinyproxy.pid"
            {(basicAuth is null ? "" : "BasicAuth " + basicAuth)}
            {(onlyConnectPort is null ? "" : "ConnectPort " + onlyConnectPort)}
            """;
        var configFile = Path.Combine(directory, "tinyproxy.conf");
        await File.WriteAllTextAsync(configFile, config);
        var process = Process.Start(new ProcessStartInfo("tinyproxy", ["-d", "-c", configFile])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("tinyproxy did not start; install Debian's tinyproxy package");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                break;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(20);
            }
        }

        return new TinyProxy(process, directory, port);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
