using System.Globalization;
using WStunnel.Bench.Hosts;

namespace WStunnel.Bench.Harness;

/// <summary>
/// Everything the end-to-end runs need, each in its own process on loopback: the backend, a plain
/// YARP hop in front of it (and, as a reference, a second hop in front of that one over HTTPS), and
/// the WStunnel gateway with one agent over WebSocket and one over long-poll (the agents are the
/// real <c>wstunnel agent</c>, the gateway <c>wstunnel server</c>).
/// </summary>
internal sealed class BenchTopology : IDisposable
{
    private readonly List<ChildProcess> _processes = [];
    private readonly string _directory;

    private BenchTopology(string directory) => _directory = directory;

    public ChildProcess Backend { get; private set; } = null!;

    public ChildProcess Gateway { get; private set; } = null!;

    public Uri BackendAddress { get; private set; } = null!;

    public Uri HopAddress { get; private set; } = null!;

    public Uri GatewayAddress { get; private set; } = null!;

    public BenchCertificate Certificate { get; private set; } = null!;

    /// <summary>Where the run keeps its certificate, configuration and scripts; deleted with the topology.</summary>
    public string WorkDirectory => _directory;

    /// <summary>The paths under test: the baseline first.</summary>
    public List<BenchPath> Paths { get; } = [];

    /// <summary>The name of the path through two YARP hops, the second in front of the first.</summary>
    public const string TwoHopsName = "two YARP hops";

    public static async Task<BenchTopology> StartAsync(
        bool withGateway = true, bool withHop = true, IEnumerable<(string Name, string Transport)>? agents = null, bool hopMemoryPool = false, bool withSecondHop = false)
    {
        var topology = new BenchTopology(Directory.CreateTempSubdirectory("wstunnel-bench-").FullName);
        try
        {
            await topology.StartCoreAsync(withGateway, withHop, agents ?? [("WStunnel WebSocket", "websocket"), ("WStunnel long-poll", "longpoll")], hopMemoryPool, withSecondHop).ConfigureAwait(false);
            return topology;
        }
        catch
        {
            topology.Dispose();
            throw;
        }
    }

    private async Task StartCoreAsync(bool withGateway, bool withHop, IEnumerable<(string Name, string Transport)> agents, bool hopMemoryPool, bool withSecondHop)
    {
        Certificate = BenchCertificate.Create(_directory);
        Backend = Track(ChildProcess.StartRole("backend", ["backend"]));
        BackendAddress = await Backend.WaitForListeningAsync().ConfigureAwait(false);

        if (withHop)
        {
            var hop = Track(ChildProcess.StartRole("YARP hop",
                ["hop", BackendAddress.ToString(), Certificate.CertFile, Certificate.KeyFile, .. hopMemoryPool ? [YarpHop.MemoryPoolOption] : Array.Empty<string>()]));
            HopAddress = await hop.WaitForListeningAsync().ConfigureAwait(false);
            Paths.Add(new BenchPath("YARP hop", HopAddress, null, null) { Proxies = [hop] });

            // Client, TLS, proxy, TLS, proxy, plain HTTP, backend: the tunnel's path, with a YARP hop
            // where the agent would be.
            if (withSecondHop)
            {
                var second = Track(ChildProcess.StartRole("second YARP hop",
                    ["hop", HopAddress.ToString(), Certificate.CertFile, Certificate.KeyFile, YarpHop.TrustOption, Certificate.CaFile, YarpHop.Http11Option, .. hopMemoryPool ? [YarpHop.MemoryPoolOption] : Array.Empty<string>()]));
                var address = await second.WaitForListeningAsync().ConfigureAwait(false);
                Paths.Add(new BenchPath(TwoHopsName, address, null, null) { Proxies = [second, hop] });
            }
        }

        if (!withGateway)
        {
            return;
        }

        (Gateway, GatewayAddress) = await StartGatewayAsync("gateway").ConfigureAwait(false);

        foreach (var (name, transport) in agents)
        {
            var token = $"bench-{transport}-{Guid.NewGuid():N}";
            var agent = Track(ChildProcess.StartWstunnel($"agent ({transport})",
                ["agent", "--server", $"wss://127.0.0.1:{GatewayAddress.Port}", "--ca-cert", Certificate.CaFile, "--target", BackendAddress.ToString(), "--transport", transport],
                AgentEnvironment(token)));
            await agent.WaitForOutputAsync("Tunnel open", TimeSpan.FromMinutes(1)).ConfigureAwait(false);
            Paths.Add(new BenchPath(name, GatewayAddress, token, agent) { Proxies = [Gateway, agent] });
        }
    }

    /// <summary>Starts a gateway (<c>wstunnel server</c>) on its own port; the scale run starts a second one.</summary>
    public async Task<(ChildProcess Gateway, Uri Address)> StartGatewayAsync(string name)
    {
        var config = Path.Combine(_directory, "gateway.json");
        await File.WriteAllTextAsync(config, """
            {
              "Logging": { "LogLevel": { "Default": "Warning", "Microsoft.Hosting.Lifetime": "Information" } },
              "WStunnel": { "MaxRequestBodySize": null, "RateLimits": { "RegistrationsPerMinute": 0 }, "Limits": { "MaxTunnelsPerIdentity": 0 } }
            }
            """).ConfigureAwait(false);
        var gateway = Track(ChildProcess.StartWstunnel(name, ["server", "--urls", "https://127.0.0.1:0", "--cert", Certificate.CertFile, "--cert-key", Certificate.KeyFile, "--config", config]));
        return (gateway, await gateway.WaitForListeningAsync().ConfigureAwait(false));
    }

    /// <summary>
    /// Starts <paramref name="count"/> agents (tokens <c>PREFIX-000000</c> …) in one swarm process at
    /// normal priority, as the agents whose work is measured run; it ends with the topology.
    /// </summary>
    public async Task<ChildProcess> StartSwarmAsync(string name, int count, string prefix)
    {
        var swarm = Track(ChildProcess.StartRole(name, SwarmArguments(GatewayAddress, count, prefix, churnPerSecond: 0)));
        await swarm.WaitForOutputAsync($"all {count} connected", TimeSpan.FromMinutes(5)).ConfigureAwait(false);
        return swarm;
    }

    /// <summary>The command line of a swarm of <paramref name="count"/> agents (tokens <c>PREFIX-000000</c> …) serving this topology's backend.</summary>
    public string[] SwarmArguments(Uri gateway, int count, string prefix, int churnPerSecond) =>
    [
        "swarm", "--server", $"wss://127.0.0.1:{gateway.Port}", "--ca", Certificate.CaFile, "--target", BackendAddress.ToString(),
        "--agents", count.ToString(CultureInfo.InvariantCulture), "--prefix", prefix,
        "--churn-per-second", churnPerSecond.ToString(CultureInfo.InvariantCulture),
    ];

    /// <summary>The agent reads its token from the environment, never from its command line.</summary>
    public static Dictionary<string, string> AgentEnvironment(string token) => new()
    {
        ["WSTUNNEL_TOKEN"] = token,
        ["WSTUNNEL__Logging__LogLevel__Default"] = "Warning",
        ["WSTUNNEL__Logging__LogLevel__WStunnel"] = "Information",
    };

    private ChildProcess Track(ChildProcess process)
    {
        _processes.Add(process);
        return process;
    }

    public void Dispose()
    {
        for (var i = _processes.Count - 1; i >= 0; i--)
        {
            _processes[i].Dispose();
        }

        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>One way to the backend: the YARP hop, or the gateway plus the agent serving <see cref="Token"/>.</summary>
internal sealed record BenchPath(string Name, Uri Address, string? Token, ChildProcess? Agent)
{
    /// <summary>The processes between client and backend on this path, whose CPU a request costs.</summary>
    public IReadOnlyList<ChildProcess> Proxies { get; init; } = [];

    public Uri Url(string path) => new(Address, path);

    public string? Header => Token is null ? null : $"X-Token: {Token}";
}
