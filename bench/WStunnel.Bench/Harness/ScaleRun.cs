using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace WStunnel.Bench.Harness;

/// <summary>
/// Many agents on one gateway: memory per idle tunnel, time to connect them all, and the latency of
/// one tunnel while the others sit idle and while agents drop and reconnect at a steady rate.
/// </summary>
internal sealed partial class ScaleRun(int agents, int churnPerSecond, TimeSpan duration, TextWriter log)
{
    private const double KiB = 1024;

    public async Task<string> RunAsync()
    {
        using var topology = await BenchTopology.StartAsync(withHop: false, agents: [("probe", "websocket")]).ConfigureAwait(false);
        var probe = topology.Paths.Single();
        var server = $"wss://127.0.0.1:{topology.GatewayAddress.Port}";

        log.WriteLine("warming up the probe tunnel");
        await Wrk.RunAsync(probe.Url("/small"), 4, TimeSpan.FromSeconds(3), probe.Header).ConfigureAwait(false);
        await Task.Delay(2000).ConfigureAwait(false);
        var before = topology.Gateway.ResidentBytes;
        log.WriteLine("probe latency, no other agents");
        var alone = await Wrk.RunAsync(probe.Url("/small"), 1, duration, probe.Header).ConfigureAwait(false);

        log.WriteLine($"connecting {agents} idle agents");
        using var idle = ChildProcess.StartRole("idle swarm", Swarm(server, topology, agents, "idle", 0));
        var line = await idle.WaitForOutputAsync($"all {agents} connected", TimeSpan.FromMinutes(30)).ConfigureAwait(false);
        var connectSeconds = double.Parse(Seconds().Match(line).Groups[1].Value, CultureInfo.InvariantCulture);
        await Task.Delay(5000).ConfigureAwait(false);
        var withIdle = topology.Gateway.ResidentBytes;
        var swarmBytes = idle.ResidentBytes;
        log.WriteLine("probe latency among idle agents");
        var amongIdle = await Wrk.RunAsync(probe.Url("/small"), 1, duration, probe.Header).ConfigureAwait(false);

        var churners = Math.Max(10, churnPerSecond * 5);
        log.WriteLine($"{churners} more agents, {churnPerSecond} of them dropping and reconnecting per second");
        using var churning = ChildProcess.StartRole("churning swarm", Swarm(server, topology, churners, "churn", churnPerSecond));
        await churning.WaitForOutputAsync("churning", TimeSpan.FromMinutes(5)).ConfigureAwait(false);
        log.WriteLine("probe latency while agents churn");
        var amongChurn = await Wrk.RunAsync(probe.Url("/small"), 1, duration, probe.Header).ConfigureAwait(false);
        var reconnects = ReconnectCount(churning.Output);

        var perAgent = (withIdle - before) / KiB / agents;
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Scale, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores: {agents} idle agents (WebSocket, TLS) on one gateway process; one probe tunnel measured with wrk at 1 connection for {duration.TotalSeconds:0} s.");
        text.AppendLine();
        text.AppendLine("| measurement | value | target |");
        text.AppendLine("|---|---:|---|");
        text.AppendLine(CultureInfo.InvariantCulture, $"| time to connect {agents} agents (16 at a time) | {connectSeconds:0.0} s | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| gateway resident memory, probe only → with {agents} idle agents | {before / KiB / KiB:0} → {withIdle / KiB / KiB:0} MiB | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| gateway memory per idle agent | {perAgent:0.0} KiB | ≤ 32 KiB {(perAgent <= 32 ? "✅" : "❌")} |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| agent-side memory per idle agent (all in one process) | {swarmBytes / KiB / agents:0.0} KiB | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| probe p50 / p99, alone | {alone.P50Ms:0.00} / {alone.P99Ms:0.00} ms | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| probe p50 / p99, among {agents} idle agents | {amongIdle.P50Ms:0.00} / {amongIdle.P99Ms:0.00} ms | |");
        var churnRatio = amongChurn.P99Ms / amongIdle.P99Ms;
        text.AppendLine(CultureInfo.InvariantCulture, $"| probe p50 / p99, while {churnPerSecond} agents/s reconnect ({reconnects} reconnects seen) | {amongChurn.P50Ms:0.00} / {amongChurn.P99Ms:0.00} ms | p99 ≤ 1.2 × idle {(churnRatio <= 1.2 ? "✅" : "❌")} ({churnRatio:0.00}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| probe errors (socket errors, timeouts, non-2xx) | {alone.Errors + amongIdle.Errors + amongChurn.Errors + alone.Non2xx + amongIdle.Non2xx + amongChurn.Non2xx} | 0 |");
        return text.ToString();
    }

    private static string[] Swarm(string server, BenchTopology topology, int count, string name, int churn) =>
    [
        "swarm", "--server", server, "--ca", topology.Certificate.CaFile, "--target", topology.BackendAddress.ToString(),
        "--agents", count.ToString(CultureInfo.InvariantCulture), "--prefix", $"swarm-{name}-{Guid.NewGuid():N}",
        "--churn-per-second", churn.ToString(CultureInfo.InvariantCulture),
    ];

    private static long ReconnectCount(string output) =>
        Reconnected().Matches(output).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();

    [GeneratedRegex(@"connected in ([\d.]+) s")]
    private static partial Regex Seconds();

    [GeneratedRegex(@"reconnected (\d+)")]
    private static partial Regex Reconnected();
}
