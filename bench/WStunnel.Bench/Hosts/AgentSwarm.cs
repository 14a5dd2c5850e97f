using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using WStunnel.Agent;

namespace WStunnel.Bench.Hosts;

/// <summary>
/// Many agents in one process, each with its own token and connection, as many machines would run
/// them. Idle, they measure what an idle tunnel costs the gateway; churning (dropped and started
/// again at a steady rate), they show whether agents coming and going disturb other tunnels.
/// </summary>
internal static class AgentSwarm
{
    public static async Task<int> RunAsync(string[] args)
    {
        var server = new Uri(Argument(args, "--server"));
        var ca = Argument(args, "--ca");
        var target = new Uri(Argument(args, "--target"));
        var count = int.Parse(Argument(args, "--agents"), CultureInfo.InvariantCulture);
        var prefix = Argument(args, "--prefix");
        var churn = int.Parse(Argument(args, "--churn-per-second"), CultureInfo.InvariantCulture);

        var agents = new RunningAgent?[count];
        var clock = Stopwatch.StartNew();
        var connected = 0;
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            agents[i] = await RunningAgent.StartAsync(Options(server, ca, target, $"{prefix}-{i:D6}")).ConfigureAwait(false);
            if (Interlocked.Increment(ref connected) % 500 == 0)
            {
                Console.WriteLine($"connected {connected}");
            }
        }).ConfigureAwait(false);
        Console.WriteLine(FormattableString.Invariant($"all {count} connected in {clock.Elapsed.TotalSeconds:0.0} s"));

        if (churn > 0)
        {
            var control = new ChurnControl(paused: args.Contains("--paused"));
            // Console input blocks even through ReadLineAsync: a thread of its own reads it.
            new Thread(() => control.Listen(Console.In)) { IsBackground = true, Name = "churn control" }.Start();
            Console.WriteLine(control.Churning ? "churning" : "churn paused");
            var random = new Random(1);
            var interval = TimeSpan.FromSeconds(1.0 / churn);
            var cycles = 0L;
            while (true)
            {
                if (!await control.WaitToChurnAsync(cycles).ConfigureAwait(false))
                {
                    continue;
                }

                var next = Stopwatch.GetTimestamp();
                var i = random.Next(count);
                await agents[i]!.DisposeAsync().ConfigureAwait(false);
                agents[i] = await RunningAgent.StartAsync(Options(server, ca, target, $"{prefix}-{i:D6}")).ConfigureAwait(false);
                if (++cycles % 100 == 0)
                {
                    Console.WriteLine($"reconnected {cycles}");
                }

                var spare = interval - Stopwatch.GetElapsedTime(next);
                if (spare > TimeSpan.Zero)
                {
                    await Task.Delay(spare).ConfigureAwait(false);
                }
            }
        }

        await Task.Delay(Timeout.Infinite).ConfigureAwait(false);
        return 0;
    }

    private static WStunnelAgentOptions Options(Uri server, string ca, Uri target, string token) => new()
    {
        Server = server,
        Token = token,
        Target = target,
        CaCertificateFile = ca,
        Insecure = server.Scheme == "ws", // only for measuring what TLS itself costs
        Transport = AgentTransport.WebSocket,
    };

    private static string Argument(string[] args, string name) =>
        Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{name} is required");

    /// <summary>
    /// Lets the harness switch churn off and on through standard input ("pause N", "resume N"),
    /// so the same agents are measured idle and churning in interleaved rounds. Each change is
    /// acknowledged once the reconnect in progress has finished ("paused N after C reconnects").
    /// </summary>
    private sealed class ChurnControl(bool paused)
    {
        private string? _request;

        public bool Churning { get; private set; } = !paused;

        public void Listen(TextReader input)
        {
            while (input.ReadLine() is { } line)
            {
                Interlocked.Exchange(ref _request, line.Trim());
            }
        }

        /// <summary>Applies a pending request; false (after a short wait) while churn is paused.</summary>
        public async Task<bool> WaitToChurnAsync(long cycles)
        {
            if (Interlocked.Exchange(ref _request, null) is { } request)
            {
                var parts = request.Split(' ', 2);
                Churning = parts[0] == "resume";
                var tag = parts.Length > 1 ? parts[1] : "";
                Console.WriteLine(FormattableString.Invariant($"{(Churning ? "resumed" : "paused")} {tag} after {cycles} reconnects"));
            }

            if (Churning)
            {
                return true;
            }

            await Task.Delay(20).ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>One agent of the swarm, connected.</summary>
    private sealed class RunningAgent : IAsyncDisposable
    {
        private readonly TunnelAgent _agent;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _run;

        private RunningAgent(WStunnelAgentOptions options, TaskCompletionSource connected)
        {
            _agent = new TunnelAgent(options, NullLogger.Instance);
            _agent.Connected += _ => connected.TrySetResult();
            _run = _agent.RunAsync(_stop.Token);
        }

        public static async Task<RunningAgent> StartAsync(WStunnelAgentOptions options)
        {
            var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var agent = new RunningAgent(options, connected);
            await connected.Task.ConfigureAwait(false);
            return agent;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _agent.Dispose();
            _stop.Dispose();
        }
    }
}
