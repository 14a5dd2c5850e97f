using System.Globalization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using WStunnel.Bench.Harness;
using WStunnel.Bench.Hosts;

// The benchmark harness. Measurements:
//   e2e    [--rounds 3] [--duration 10] [--large-mib 100] [--large-repeats 3] [--spread-agents 100] [--hop-memory-pool] [--out bench/results/end-to-end.md]
//   scale  [--agents 1000] [--churn-per-second 20] [--duration 10] [--rounds 5] [--out bench/results/scale.md]
//   micro  [BenchmarkDotNet arguments; default --filter *]
//   tls-memory [--connections 1000] [--out bench/results/tls-memory.md]
// Host roles it starts itself as child processes: backend, hop, swarm.
var command = args.Length > 0 ? args[0] : "e2e";
var options = args.Skip(1).ToArray();
switch (command)
{
    case "backend":
        return await BenchBackend.RunAsync();
    case "hop":
        return await YarpHop.RunAsync(new Uri(options[0]), options[1], options[2], memoryPool: options.Contains(YarpHop.MemoryPoolOption), TextOrNull(options, YarpHop.TrustOption), http11: options.Contains(YarpHop.Http11Option));
    case "swarm":
    {
        // Its agents run as `wstunnel agent` runs one (src/WStunnel.Cli/Hosting/SocketCompletions.cs); hop and backend run as shipped.
        const string inlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
        Environment.SetEnvironmentVariable(inlineCompletions, Environment.GetEnvironmentVariable(inlineCompletions) ?? "1");
        return await AgentSwarm.RunAsync(options);
    }
    case "micro":
        // In process: the harness is already built in Release, and no project needs generating.
        BenchmarkSwitcher.FromAssembly(typeof(BenchBackend).Assembly).Run(
            [.. options, .. options.Contains("--filter") ? Array.Empty<string>() : ["--filter", "*"], .. options.Contains("--inProcess") ? Array.Empty<string>() : ["--inProcess"]],
            DefaultConfig.Instance.WithOptions(ConfigOptions.JoinSummary));
        return 0;
    case "e2e":
    {
        var run = new EndToEndRun(
            Option(options, "--rounds", 3),
            TimeSpan.FromSeconds(Option(options, "--duration", 10)),
            Option(options, "--large-mib", 100) * 1024L * 1024,
            Math.Max(1, Option(options, "--large-repeats", 3)),
            Math.Max(1, Option(options, "--spread-agents", 100)),
            hopMemoryPool: options.Contains(YarpHop.MemoryPoolOption),
            Console.Out);
        return Publish(await run.RunAsync(), Text(options, "--out", "bench/results/end-to-end.md"));
    }
    case "scale":
    {
        var run = new ScaleRun(
            Option(options, "--agents", 1000),
            Option(options, "--churn-per-second", 20),
            TimeSpan.FromSeconds(Option(options, "--duration", 10)),
            Option(options, "--rounds", 5),
            Console.Out);
        return Publish(await run.RunAsync(), Text(options, "--out", "bench/results/scale.md"));
    }
    case "tls-memory" when options.Contains("--child"):
        Console.Write(await TlsMemoryRun.RunAsync(Option(options, "--connections", 1000)));
        return 0;
    case "tls-memory":
        return Publish(await TlsMemoryRun.RunAsync(Option(options, "--connections", 1000)), Text(options, "--out", "bench/results/tls-memory.md"));
    default:
        Console.Error.WriteLine($"unknown command '{command}': use e2e, scale, micro or tls-memory");
        return 2;
}

static int Option(string[] options, string name, int fallback) =>
    Array.IndexOf(options, name) is var i and >= 0 && i + 1 < options.Length ? int.Parse(options[i + 1], CultureInfo.InvariantCulture) : fallback;

static string Text(string[] options, string name, string fallback) => TextOrNull(options, name) ?? fallback;

static string? TextOrNull(string[] options, string name) =>
    Array.IndexOf(options, name) is var i and >= 0 && i + 1 < options.Length ? options[i + 1] : null;

static int Publish(string report, string file)
{
    Console.WriteLine();
    Console.WriteLine(report);
    var machine = MachineDescription.Describe();
    Console.WriteLine(machine);
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
    File.WriteAllText(file, report + Environment.NewLine + machine + Environment.NewLine);
    Console.WriteLine($"written to {file}");
    return 0;
}
