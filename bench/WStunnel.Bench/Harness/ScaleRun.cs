using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace WStunnel.Bench.Harness;

/// <summary>
/// Many agents on one gateway: memory per idle tunnel, time to connect them all, and the latency of
/// one tunnel while the others sit idle and while agents drop and reconnect at a steady rate. The
/// idle and churning measurements alternate in rounds (the same agents, churn switched off and on),
/// with a third kind in each round: the same churn against a second gateway process on the same
/// machine, which separates what sharing the machine costs from what sharing the gateway costs.
/// </summary>
internal sealed partial class ScaleRun(int agents, int churnPerSecond, TimeSpan duration, int rounds, TextWriter log)
{
    private const double KiB = 1024;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(3);

    public async Task<string> RunAsync()
    {
        using var topology = await BenchTopology.StartAsync(withHop: false, agents: [("probe", "websocket")]).ConfigureAwait(false);
        var probe = topology.Paths.Single();
        Task<LoadResult> Probe() => Wrk.RunAsync(probe.Url("/small"), 1, duration, probe.Header);

        log.WriteLine("warming up the probe tunnel");
        await Wrk.RunAsync(probe.Url("/small"), 4, TimeSpan.FromSeconds(3), probe.Header).ConfigureAwait(false);
        await Task.Delay(2000).ConfigureAwait(false);
        var before = topology.Gateway.ResidentBytes;
        log.WriteLine("probe latency, no other agents");
        var alone = await Probe().ConfigureAwait(false);

        log.WriteLine($"connecting {agents} idle agents");
        using var idle = ChildProcess.StartBackgroundRole("idle swarm", Swarm(topology.GatewayAddress, topology, agents, "idle", 0));
        var line = await idle.WaitForOutputAsync($"all {agents} connected", TimeSpan.FromMinutes(30)).ConfigureAwait(false);
        var connectSeconds = double.Parse(Seconds().Match(line).Groups[1].Value, CultureInfo.InvariantCulture);
        await Task.Delay(5000).ConfigureAwait(false);
        var withIdle = topology.Gateway.ResidentBytes;
        var swarmBytes = idle.ResidentBytes;

        var churners = Math.Max(10, churnPerSecond * 5);
        log.WriteLine($"{churners} more agents on this gateway and {churners} on a second one, to drop and reconnect {churnPerSecond} per second");
        var (_, elsewhereAddress) = await topology.StartGatewayAsync("second gateway").ConfigureAwait(false);
        using var here = ChildProcess.StartBackgroundRole("churning swarm", [.. Swarm(topology.GatewayAddress, topology, churners, "churn", churnPerSecond), "--paused"]);
        using var there = ChildProcess.StartBackgroundRole("churning swarm, second gateway", [.. Swarm(elsewhereAddress, topology, churners, "elsewhere", churnPerSecond), "--paused"]);
        await here.WaitForOutputAsync("churn paused", TimeSpan.FromMinutes(5)).ConfigureAwait(false);
        await there.WaitForOutputAsync("churn paused", TimeSpan.FromMinutes(5)).ConfigureAwait(false);

        // Both gateways and both swarms compile their reconnect paths before anything is measured.
        log.WriteLine("warming up the reconnect paths");
        await WhileChurningAsync(here, "warm-up", () => Task.Delay(WarmUp)).ConfigureAwait(false);
        await WhileChurningAsync(there, "warm-up", () => Task.Delay(WarmUp)).ConfigureAwait(false);
        await Task.Delay(2000).ConfigureAwait(false);

        var amongIdle = new List<LoadResult>();
        var amongChurn = new List<LoadResult>();
        var churnElsewhere = new List<LoadResult>();
        long reconnects = 0;
        var cpuIdle = TimeSpan.Zero;
        var cpuChurning = TimeSpan.Zero;
        for (var round = 1; round <= rounds; round++)
        {
            log.WriteLine($"round {round}: probe latency among idle agents");
            var cpu = topology.Gateway.CpuTime;
            amongIdle.Add(await Probe().ConfigureAwait(false));
            cpuIdle += topology.Gateway.CpuTime - cpu;
            log.WriteLine($"round {round}: probe latency while agents churn on its gateway");
            cpu = topology.Gateway.CpuTime;
            var (churned, count) = await WhileChurningAsync(here, $"here-{round}", Probe).ConfigureAwait(false);
            cpuChurning += topology.Gateway.CpuTime - cpu;
            amongChurn.Add(churned);
            reconnects += count;
            log.WriteLine($"round {round}: probe latency while agents churn on the second gateway");
            churnElsewhere.Add((await WhileChurningAsync(there, $"there-{round}", Probe).ConfigureAwait(false)).Measured);
        }

        // What the reconnects cost the gateway: its CPU while they happen, less what the probe's
        // requests cost it (per request, from the idle phases: the probe runs slower during churn).
        var cpuPerRequest = cpuIdle.TotalMilliseconds / amongIdle.Sum(r => r.RequestsPerSecond * duration.TotalSeconds);
        var probeWhileChurning = cpuPerRequest * amongChurn.Sum(r => r.RequestsPerSecond * duration.TotalSeconds);
        var cpuPerReconnect = reconnects > 0 ? (cpuChurning.TotalMilliseconds - probeWhileChurning) / reconnects : double.NaN;

        var idleP99 = Median(amongIdle, r => r.P99Ms);
        var churnP99 = Median(amongChurn, r => r.P99Ms);
        var elsewhereP99 = Median(churnElsewhere, r => r.P99Ms);
        var perAgent = (withIdle - before) / KiB / agents;
        var churnRatio = churnP99 / idleP99;
        var all = new[] { alone }.Concat(amongIdle).Concat(amongChurn).Concat(churnElsewhere).ToList();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Scale, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores: {agents} idle agents (WebSocket, TLS) on one gateway process; one probe tunnel measured with wrk at 1 connection for {duration.TotalSeconds:0} s, idle and churning alternately in {rounds} round{(rounds == 1 ? "" : "s")} (medians shown). The agents other than the probe run in swarm processes under the idle scheduling policy, as stand-ins for other machines.");
        text.AppendLine();
        text.AppendLine("| measurement | value | target |");
        text.AppendLine("|---|---:|---|");
        text.AppendLine(CultureInfo.InvariantCulture, $"| time to connect {agents} agents (16 at a time) | {connectSeconds:0.0} s | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| gateway resident memory, probe only → with {agents} idle agents | {before / KiB / KiB:0} → {withIdle / KiB / KiB:0} MiB | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| gateway memory per idle agent | {perAgent:0.0} KiB | ≤ 32 KiB {(perAgent <= 32 ? "✅" : "❌")} |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| agent-side memory per idle agent (all in one process) | {swarmBytes / KiB / agents:0.0} KiB | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| probe p50 / p99, alone | {alone.P50Ms:0.00} / {alone.P99Ms:0.00} ms | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| probe p50 / p99, among {agents + churners} idle agents | {Median(amongIdle, r => r.P50Ms):0.00} / {idleP99:0.00} ms | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| probe p50 / p99, while {churnPerSecond} agents/s reconnect to its gateway ({reconnects} reconnects) | {Median(amongChurn, r => r.P50Ms):0.00} / {churnP99:0.00} ms | p99 ≤ 1.2 × idle {(churnRatio <= 1.2 ? "✅" : "❌")} ({churnRatio:0.00}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| probe p50 / p99, while {churnPerSecond} agents/s reconnect to a second gateway on the same machine | {Median(churnElsewhere, r => r.P50Ms):0.00} / {elsewhereP99:0.00} ms | ({elsewhereP99 / idleP99:0.00} × idle) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| gateway CPU per reconnect (TLS handshake, upgrade, admission, teardown) | {cpuPerReconnect:0.0} ms | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| probe errors (socket errors, timeouts, non-2xx) | {all.Sum(r => r.Errors + r.Non2xx)} | 0 |");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Probe p99 in each round, idle / churn on its gateway / churn on the second (ms): {string.Join("; ", amongIdle.Select((r, i) => FormattableString.Invariant($"{r.P99Ms:0.00} / {amongChurn[i].P99Ms:0.00} / {churnElsewhere[i].P99Ms:0.00}")))}.");
        return text.ToString();
    }

    /// <summary>Switches a swarm's churn on for the length of <paramref name="measure"/>; returns its result and the reconnects made meanwhile.</summary>
    private static async Task<(T Measured, long Reconnects)> WhileChurningAsync<T>(ChildProcess swarm, string tag, Func<Task<T>> measure)
    {
        var resumed = await swarm.CommandAsync($"resume {tag}", $"resumed {tag} ", CommandTimeout).ConfigureAwait(false);
        var result = await measure().ConfigureAwait(false);
        var paused = await swarm.CommandAsync($"pause {tag}", $"paused {tag} ", CommandTimeout).ConfigureAwait(false);
        return (result, Cycles(paused) - Cycles(resumed));
    }

    private static async Task WhileChurningAsync(ChildProcess swarm, string tag, Func<Task> wait) =>
        await WhileChurningAsync(swarm, tag, async () =>
        {
            await wait().ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);

    private static double Median(List<LoadResult> results, Func<LoadResult, double> value)
    {
        var sorted = results.Select(value).Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static long Cycles(string acknowledgement) => long.Parse(AfterReconnects().Match(acknowledgement).Groups[1].Value, CultureInfo.InvariantCulture);

    private static string[] Swarm(Uri gateway, BenchTopology topology, int count, string name, int churn) =>
        topology.SwarmArguments(gateway, count, $"swarm-{name}-{Guid.NewGuid():N}", churn);

    [GeneratedRegex(@"connected in ([\d.]+) s")]
    private static partial Regex Seconds();

    [GeneratedRegex(@"after (\d+) reconnects")]
    private static partial Regex AfterReconnects();
}
