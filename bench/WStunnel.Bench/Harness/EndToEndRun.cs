using System.Globalization;
using System.Text;

namespace WStunnel.Bench.Harness;

/// <summary>
/// The end-to-end comparison: the same requests through the plain YARP hop and through the tunnel
/// (WebSocket and long-poll), interleaved in rounds (A B C A B C …) so that drift of the machine
/// hits every path alike. Reports medians over the rounds, and the ratios the targets are set in as
/// the median of the ratios round by round. Small requests at 32 connections are also spread over
/// many agents, one tunnel per request in turn: how a gateway shared by many lightly used tunnels
/// fares, where each request crosses its tunnel alone instead of in a batch with others. Two YARP
/// hops in a row, the second forwarding to the first over HTTPS, run alongside as a reference: what
/// any second proxy process on the path costs, which the tunnel's agent is.
/// </summary>
internal sealed class EndToEndRun(int rounds, TimeSpan duration, long largeBytes, int largeRepeats, int spreadAgents, bool hopMemoryPool, TextWriter log)
{
    private const long MiB = 1024 * 1024;

    private readonly Dictionary<(string Path, string Scenario), List<double>> _values = [];
    private long _errors;
    private long _non2xx;

    public async Task<string> RunAsync()
    {
        using var topology = await BenchTopology.StartAsync(hopMemoryPool: hopMemoryPool, withSecondHop: true).ConfigureAwait(false);
        using var client = Transfer.CreateClient(topology.Certificate.CaFile);
        var idle = topology.Paths.Where(p => p.Agent is not null).ToDictionary(p => p.Name, p => (Gateway: topology.Gateway.ResidentBytes, Agent: p.Agent!.ResidentBytes));
        var (spread, rotation) = await StartSpreadAsync(topology).ConfigureAwait(false);

        // Warm-up: JIT, connection pools, TLS session caches. Large bodies both ways: nothing else before
        // the first round's uploads sends a request body, so they would run code not yet tiered up.
        foreach (var path in topology.Paths)
        {
            await Wrk.RunAsync(path.Url("/small"), 8, TimeSpan.FromSeconds(2), path.Header).ConfigureAwait(false);
            await Transfer.DownloadAsync(client, path.Url($"/bytes/{32 * MiB}"), path.Token, 32 * MiB).ConfigureAwait(false);
            await Transfer.UploadAsync(client, path.Url("/upload"), path.Token, 32 * MiB).ConfigureAwait(false);
            await WebSocketEcho.RunAsync(path.Url("/ws"), path.Token, topology.Certificate.CaFile, TimeSpan.FromSeconds(1), 8 * MiB).ConfigureAwait(false);
        }

        await Wrk.RunAsync(spread.Url("/small"), 32, TimeSpan.FromSeconds(2), null, rotation).ConfigureAwait(false);

        for (var round = 1; round <= rounds; round++)
        {
            log.WriteLine($"round {round} of {rounds}");
            await EachPathAsync(topology, "small1", async p => Record(p, "small1", await Wrk.RunAsync(p.Url("/small"), 1, duration, p.Header).ConfigureAwait(false))).ConfigureAwait(false);
            await EachPathAsync(topology, "small32", p => MeasureSmall32Async(p, script: null)).ConfigureAwait(false);
            log.WriteLine($"  {"small32",-8} {spread.Name}");
            await MeasureSmall32Async(spread, rotation).ConfigureAwait(false);
            await EachPathAsync(topology, "mib8", async p => Record(p, "mib8", await Wrk.RunAsync(p.Url($"/bytes/{MiB}"), 8, duration, p.Header).ConfigureAwait(false))).ConfigureAwait(false);
            await LargeTransfersAsync(topology, "down", p => Transfer.DownloadAsync(client, p.Url($"/bytes/{largeBytes}"), p.Token, largeBytes)).ConfigureAwait(false);
            await LargeTransfersAsync(topology, "up", p => Transfer.UploadAsync(client, p.Url("/upload"), p.Token, largeBytes)).ConfigureAwait(false);
            await EachPathAsync(topology, "wsecho", async p =>
            {
                var echo = await WebSocketEcho.RunAsync(p.Url("/ws"), p.Token, topology.Certificate.CaFile, duration, largeBytes).ConfigureAwait(false);
                Add(p.Name, "wsecho.p50", echo.P50Ms);
                Add(p.Name, "wsecho.p99", echo.P99Ms);
                Add(p.Name, "wsecho.mbps", echo.MegabytesPerSecond);
            }).ConfigureAwait(false);
        }

        return Report(topology, idle);
    }

    /// <summary>
    /// Connects <c>spreadAgents</c> agents, in one process that does their work as the single agent
    /// does its own, and writes a wrk script that turns to the next agent's token with each request.
    /// </summary>
    private async Task<(BenchPath Path, string Rotation)> StartSpreadAsync(BenchTopology topology)
    {
        var prefix = $"bench-spread-{Guid.NewGuid():N}";
        log.WriteLine($"connecting {spreadAgents} agents to spread small requests over");
        var swarm = await topology.StartSwarmAsync("spread swarm", spreadAgents, prefix).ConfigureAwait(false);
        var path = new BenchPath(SpreadName, topology.GatewayAddress, null, null) { Proxies = [topology.Gateway, swarm] };
        return (path, Wrk.WriteTokenRotation(topology.WorkDirectory, prefix, spreadAgents, "/small"));
    }

    private string SpreadName => $"WStunnel WebSocket, {spreadAgents} agents";

    /// <summary>Small GETs at 32 connections, with the CPU each request cost the processes on the path.</summary>
    private async Task MeasureSmall32Async(BenchPath path, string? script)
    {
        var before = path.Proxies.Select(x => x.CpuTime).ToArray();
        var result = await Wrk.RunAsync(path.Url("/small"), 32, duration, path.Header, script).ConfigureAwait(false);
        Record(path, "small32", result);
        var requests = Math.Max(1, result.RequestsPerSecond * duration.TotalSeconds);
        var perRequest = path.Proxies.Select((x, i) => (x.CpuTime - before[i]).TotalMicroseconds / requests).ToArray();
        Add(path.Name, "small32.cpuus", perRequest.Sum());
        Add(path.Name, "small32.cpuus.first", perRequest[0]);
    }

    private async Task EachPathAsync(BenchTopology topology, string scenario, Func<BenchPath, Task> measure)
    {
        foreach (var path in topology.Paths)
        {
            log.WriteLine($"  {scenario,-8} {path.Name}");
            await measure(path).ConfigureAwait(false);
        }
    }

    private void Record(BenchPath path, string scenario, LoadResult result)
    {
        Add(path.Name, scenario + ".rps", result.RequestsPerSecond);
        Add(path.Name, scenario + ".p50", result.P50Ms);
        Add(path.Name, scenario + ".p99", result.P99Ms);
        Add(path.Name, scenario + ".mbps", result.MegabytesPerSecond);
        _errors += result.Errors;
        _non2xx += result.Non2xx;
    }

    /// <summary>
    /// <c>largeRepeats</c> transfers on each path, the paths taking turns (hop, WebSocket, long-poll,
    /// hop, …); the round keeps each path's median. One 100 MiB transfer lasts well under a second,
    /// so a single one is at the mercy of whatever else the machine does in that moment.
    /// </summary>
    private async Task LargeTransfersAsync(BenchTopology topology, string scenario, Func<BenchPath, Task<double>> transfer)
    {
        var speeds = topology.Paths.ToDictionary(p => p.Name, _ => new List<double>());
        for (var i = 0; i < largeRepeats; i++)
        {
            foreach (var path in topology.Paths)
            {
                log.WriteLine($"  {scenario,-8} {path.Name}");
                speeds[path.Name].Add(await MeasureLargeAsync(topology, path, scenario, () => transfer(path)).ConfigureAwait(false));
            }
        }

        foreach (var (path, values) in speeds)
        {
            Add(path, scenario + ".mbps", MedianOf(values));
        }
    }

    /// <summary>
    /// One transfer's MB/s, and the CPU each MiB cost the path's processes, the backend and the client
    /// (this process); on a tunnel, also how far gateway and agent grew beyond their size before it.
    /// </summary>
    private async Task<double> MeasureLargeAsync(BenchTopology topology, BenchPath path, string scenario, Func<Task<double>> transfer)
    {
        ChildProcess[] measured = [.. path.Proxies, topology.Backend];
        var before = measured.Select(x => x.CpuTime).ToArray();
        var clientBefore = Environment.CpuUsage.TotalTime;
        double speed;
        if (path.Agent is null)
        {
            speed = await transfer().ConfigureAwait(false);
        }
        else
        {
            await using var sampler = new RssSampler(topology.Gateway, path.Agent);
            speed = await transfer().ConfigureAwait(false);
            var peaks = await sampler.StopAsync().ConfigureAwait(false);
            Add(path.Name, scenario + ".gatewayGrowth", (peaks[0] - sampler.Baseline[0]) / (double)MiB);
            Add(path.Name, scenario + ".agentGrowth", (peaks[1] - sampler.Baseline[1]) / (double)MiB);
        }

        var mebibytes = largeBytes / (double)MiB;
        var client = (Environment.CpuUsage.TotalTime - clientBefore).TotalMilliseconds / mebibytes;
        var perMiB = measured.Select((x, i) => (x.CpuTime - before[i]).TotalMilliseconds / mebibytes).ToArray();
        Add(path.Name, scenario + ".cpums", perMiB[..^1].Sum());
        Add(path.Name, scenario + ".cpums.first", perMiB[0]);
        Add(path.Name, scenario + ".cpums.backend", perMiB[^1]);
        Add(path.Name, scenario + ".cpums.client", client);
        return speed;
    }

    private void Add(string path, string scenario, double value)
    {
        if (!_values.TryGetValue((path, scenario), out var list))
        {
            _values[(path, scenario)] = list = [];
        }

        list.Add(value);
    }

    private double Median(string path, string scenario) => MedianOf(_values[(path, scenario)]);

    private double Largest(string path, string scenario) => _values[(path, scenario)].Max();

    /// <summary>
    /// The median of the ratios taken round by round: each pairs two paths measured minutes apart, so
    /// a slow spell of the machine does not set one path's median against another's good round.
    /// </summary>
    private double PairedRatio(string numeratorPath, string denominatorPath, string scenario) =>
        MedianOf(_values[(numeratorPath, scenario)].Zip(_values[(denominatorPath, scenario)], static (n, d) => n / d));

    private static double MedianOf(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private string Report(BenchTopology topology, Dictionary<string, (long Gateway, long Agent)> idle)
    {
        var hop = topology.Paths[0].Name;
        const string two = BenchTopology.TwoHopsName;
        var tunnels = topology.Paths.Where(p => p.Agent is not null).ToArray();
        var ws = tunnels[0].Name;
        var lp = tunnels[1].Name;
        var large = largeBytes / MiB;
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"End to end, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, {rounds} interleaved rounds of {duration.TotalSeconds:0} s (medians; each ratio the median of the rounds' ratios); every process on loopback, TLS on every public hop (and from the second YARP hop to the first); {(hopMemoryPool ? "the hop's Kestrel with the gateway's memory pool (32 KiB blocks)" : "the hop's Kestrel as it comes (4 KiB blocks; the gateway's: 32 KiB)")}.");
        text.AppendLine();
        text.AppendLine("| measurement | YARP hop | WStunnel WebSocket | WebSocket / hop | target | long-poll | long-poll / WebSocket | target | two YARP hops | two hops / hop |");
        text.AppendLine("|---|---:|---:|---:|---|---:|---:|---|---:|---:|");
        Row(text, "small GET, 1 connection: p50 latency (ms)", "small1.p50", hop, ws, lp, two, higherIsBetter: false, hopTarget: 1.5, lpTarget: null, format: "0.00");
        Row(text, "small GET, 1 connection: p99 latency (ms)", "small1.p99", hop, ws, lp, two, higherIsBetter: false, hopTarget: null, lpTarget: null, format: "0.00");
        Row(text, "small GET, 1 connection (req/s)", "small1.rps", hop, ws, lp, two, higherIsBetter: true, hopTarget: null, lpTarget: null, format: "0");
        Row(text, "small GET, 32 connections (req/s)", "small32.rps", hop, ws, lp, two, higherIsBetter: true, hopTarget: 0.75, lpTarget: 0.3, format: "0");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"| small GET, 32 connections spread over {spreadAgents} agents (req/s) | {Median(hop, "small32.rps"):0} | {Median(SpreadName, "small32.rps"):0} | {PairedRatio(SpreadName, hop, "small32.rps"):0.00} |  |  |  |  |  |  |");
        Row(text, "small GET, 32 connections: p99 latency (ms)", "small32.p99", hop, ws, lp, two, higherIsBetter: false, hopTarget: null, lpTarget: null, format: "0.00");
        Row(text, "small GET, 32 connections: CPU per request (µs, the path's proxies together)", "small32.cpuus", hop, ws, lp, two, higherIsBetter: false, hopTarget: null, lpTarget: null, format: "0");
        Row(text, "1 MiB GET, 8 connections (MB/s)", "mib8.mbps", hop, ws, lp, two, higherIsBetter: true, hopTarget: 0.6, lpTarget: 0.5, format: "0");
        Row(text, $"{large} MiB download (MB/s)", "down.mbps", hop, ws, lp, two, higherIsBetter: true, hopTarget: 0.8, lpTarget: 0.5, format: "0");
        Row(text, $"{large} MiB upload (MB/s)", "up.mbps", hop, ws, lp, two, higherIsBetter: true, hopTarget: 0.8, lpTarget: 0.5, format: "0");
        Row(text, $"{large} MiB download: CPU per MiB (ms, the path's proxies together)", "down.cpums", hop, ws, lp, two, higherIsBetter: false, hopTarget: null, lpTarget: null, format: "0.0");
        Row(text, $"{large} MiB upload: CPU per MiB (ms, the path's proxies together)", "up.cpums", hop, ws, lp, two, higherIsBetter: false, hopTarget: null, lpTarget: null, format: "0.0");
        Row(text, "client WebSocket, 32-byte echo: p50 round trip (ms)", "wsecho.p50", hop, ws, lp, two, higherIsBetter: false, hopTarget: null, lpTarget: null, format: "0.00");
        Row(text, "client WebSocket, 32-byte echo: p99 round trip (ms)", "wsecho.p99", hop, ws, lp, two, higherIsBetter: false, hopTarget: null, lpTarget: null, format: "0.00");
        Row(text, $"client WebSocket, {large} MiB echoed in 64 KiB messages (MB/s each way)", "wsecho.mbps", hop, ws, lp, two, higherIsBetter: true, hopTarget: null, lpTarget: null, format: "0");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"WebSocket / hop in each round (the ratios behind the medians): small GET p50 {Rounds(hop, ws, "small1.p50")}; 32 connections {Rounds(hop, ws, "small32.rps")}, spread over {spreadAgents} agents {Rounds(hop, SpreadName, "small32.rps")}; 1 MiB {Rounds(hop, ws, "mib8.mbps")}; download {Rounds(hop, ws, "down.mbps")}; upload {Rounds(hop, ws, "up.mbps")}; WebSocket echo p50 {Rounds(hop, ws, "wsecho.p50")}, MB/s {Rounds(hop, ws, "wsecho.mbps")}. Two hops / hop: small GET p50 {Rounds(hop, two, "small1.p50")}; 32 connections {Rounds(hop, two, "small32.rps")}; download {Rounds(hop, two, "down.mbps")}; upload {Rounds(hop, two, "up.mbps")}.");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Errors (socket errors and timeouts, all runs): {_errors}. Non-2xx responses: {_non2xx}.");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"CPU per small request at 32 connections (user + kernel, from /proc; steadier than req/s on a busy machine): the hop {Median(hop, "small32.cpuus"):0} µs; over WebSocket the gateway {Median(ws, "small32.cpuus.first"):0} µs and the agent {Median(ws, "small32.cpuus") - Median(ws, "small32.cpuus.first"):0} µs; over long-poll {Median(lp, "small32.cpuus.first"):0} and {Median(lp, "small32.cpuus") - Median(lp, "small32.cpuus.first"):0} µs; spread over {spreadAgents} agents (each request alone on its tunnel, not batched with others; the agents in one process, as if on as many machines but on this machine's cores) the gateway {Median(SpreadName, "small32.cpuus.first"):0} µs and the agents {Median(SpreadName, "small32.cpuus") - Median(SpreadName, "small32.cpuus.first"):0} µs; through two hops the second {Median(two, "small32.cpuus.first"):0} µs and the first {Median(two, "small32.cpuus") - Median(two, "small32.cpuus.first"):0} µs.");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"CPU per MiB of the {large} MiB transfers (user + kernel, from /proc; medians of all transfers): {LargeCpu("download", "down", "decrypting and hashing", hop, ws, lp, two)} {LargeCpu("upload", "up", "generating and encrypting", hop, ws, lp, two)}");
        text.AppendLine();
        text.AppendLine("| resident memory (MiB) | gateway idle | gateway growth, download / upload (largest) | agent idle | agent growth, download / upload (largest) | target |");
        text.AppendLine("|---|---:|---:|---:|---:|---|");
        foreach (var path in new[] { ws, lp })
        {
            var gatewayGrowth = Math.Max(Largest(path, "down.gatewayGrowth"), Largest(path, "up.gatewayGrowth"));
            var agentGrowth = Math.Max(Largest(path, "down.agentGrowth"), Largest(path, "up.agentGrowth"));
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {path} | {idle[path].Gateway / (double)MiB:0} | {Largest(path, "down.gatewayGrowth"):0} / {Largest(path, "up.gatewayGrowth"):0} | {idle[path].Agent / (double)MiB:0} | {Largest(path, "down.agentGrowth"):0} / {Largest(path, "up.agentGrowth"):0} | ≤ 64 {Mark(Math.Max(gatewayGrowth, agentGrowth) <= 64)} |");
        }

        return text.ToString();
    }

    /// <summary>
    /// Who spent the CPU of one kind of transfer, and the WebSocket / hop ratio that spending predicts
    /// when client, backend and proxies together keep the machine's cores busy: throughput is then the
    /// cores' time divided by the CPU each MiB costs the whole path.
    /// </summary>
    private string LargeCpu(string label, string scenario, string clientWork, string hop, string ws, string lp, string two)
    {
        double Cpu(string path, string part) => Median(path, $"{scenario}.cpums{part}");
        double Total(string path) => Cpu(path, "") + Cpu(path, ".client") + Cpu(path, ".backend");
        var predicted = Total(hop) / Total(ws);
        return string.Create(CultureInfo.InvariantCulture,
            $"{label}: the hop {Cpu(hop, ""):0.0} ms; over WebSocket the gateway {Cpu(ws, ".first"):0.0} and the agent {Cpu(ws, "") - Cpu(ws, ".first"):0.0} ms; "
            + $"over long-poll {Cpu(lp, ".first"):0.0} and {Cpu(lp, "") - Cpu(lp, ".first"):0.0} ms; through two hops the second {Cpu(two, ".first"):0.0} and the first {Cpu(two, "") - Cpu(two, ".first"):0.0} ms; the client (.NET's HttpClient, {clientWork}) {Cpu(hop, ".client"):0.0} and the backend {Cpu(hop, ".backend"):0.0} ms through the hop "
            + $"({Cpu(ws, ".client"):0.0} and {Cpu(ws, ".backend"):0.0} through the WebSocket tunnel); were the cores busy with these processes alone, "
            + $"the CPU per MiB of each path would put the WebSocket / hop ratio at {predicted:0.00}.");
    }

    private void Row(StringBuilder text, string label, string key, string hop, string ws, string lp, string two, bool higherIsBetter, double? hopTarget, double? lpTarget, string format)
    {
        var h = Median(hop, key);
        var w = Median(ws, key);
        var l = Median(lp, key);
        var ratio = PairedRatio(ws, hop, key);
        var lpRatio = higherIsBetter ? PairedRatio(lp, ws, key) : PairedRatio(ws, lp, key);
        var hopGoal = hopTarget is { } t ? $"{(higherIsBetter ? "≥" : "≤")} {t:0.##} {Mark(higherIsBetter ? ratio >= t : ratio <= t)}" : "";
        var lpGoal = lpTarget is { } u ? $"≥ {u:0.##} {Mark(lpRatio >= u)}" : "";
        text.AppendLine(CultureInfo.InvariantCulture,
            $"| {label} | {h.ToString(format, CultureInfo.InvariantCulture)} | {w.ToString(format, CultureInfo.InvariantCulture)} | {ratio:0.00} | {hopGoal} | {l.ToString(format, CultureInfo.InvariantCulture)} | {lpRatio:0.00} | {lpGoal} | {Median(two, key).ToString(format, CultureInfo.InvariantCulture)} | {PairedRatio(two, hop, key):0.00} |");
    }

    private string Rounds(string hop, string ws, string key) =>
        string.Join(" / ", _values[(ws, key)].Zip(_values[(hop, key)], (w, h) => (w / h).ToString("0.00", CultureInfo.InvariantCulture)));

    private static string Mark(bool met) => met ? "✅" : "❌";
}
