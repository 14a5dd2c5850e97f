using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace WStunnel.Bench.Harness;

/// <summary>What one wrk run measured.</summary>
internal sealed record LoadResult(double RequestsPerSecond, double P50Ms, double P99Ms, double MegabytesPerSecond, long Errors, long Non2xx);

/// <summary>Runs wrk (Debian package <c>wrk</c>) and reads its report.</summary>
internal static partial class Wrk
{
    /// <param name="script">A Lua script that shapes each request (<c>wrk -s</c>), e.g. one from <see cref="WriteTokenRotation"/>.</param>
    public static async Task<LoadResult> RunAsync(Uri url, int connections, TimeSpan duration, string? header, string? script = null)
    {
        var arguments = new List<string>
        {
            "-t", Math.Min(2, connections).ToString(CultureInfo.InvariantCulture),
            "-c", connections.ToString(CultureInfo.InvariantCulture),
            "-d", $"{(int)duration.TotalSeconds}s",
            "--timeout", "10s",
            "--latency",
        };
        if (header is not null)
        {
            arguments.AddRange(["-H", header]);
        }

        if (script is not null)
        {
            arguments.AddRange(["-s", script]);
        }

        arguments.Add(url.ToString());
        var start = new ProcessStartInfo("wrk", arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("wrk did not start");
        var output = await process.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
        await process.WaitForExitAsync().ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"wrk failed ({process.ExitCode}): {await process.StandardError.ReadToEndAsync().ConfigureAwait(false)}");
        }

        return Parse(output);
    }

    /// <summary>
    /// Writes a wrk script whose requests go to <paramref name="path"/> with the tokens
    /// <c>PREFIX-000000</c> … in turn, one per request, as <see cref="Hosts.AgentSwarm"/> names its agents:
    /// the load spread evenly over that many tunnels.
    /// </summary>
    public static string WriteTokenRotation(string directory, string prefix, int count, string path)
    {
        var file = Path.Combine(directory, $"rotate-{count}-tokens.lua");
        File.WriteAllText(file, $$"""
            local n = 0
            request = function()
              n = (n + 1) % {{count}}
              return wrk.format("GET", "{{path}}", { ["X-Token"] = string.format("{{prefix}}-%06d", n) })
            end
            """);
        return file;
    }

    internal static LoadResult Parse(string report)
    {
        var rps = Number(RequestsPerSecond().Match(report).Groups[1].Value);
        var p50 = Duration(Percentile().Matches(report).First(m => m.Groups[1].Value == "50"));
        var p99 = Duration(Percentile().Matches(report).First(m => m.Groups[1].Value == "99"));
        var transfer = Transfer().Match(report);
        var megabytes = Number(transfer.Groups[1].Value) * transfer.Groups[2].Value switch
        {
            "GB" => 1024,
            "MB" => 1,
            "KB" => 1.0 / 1024,
            _ => 1.0 / (1024 * 1024),
        };
        var errors = SocketErrors().Match(report) is { Success: true } e
            ? e.Groups.Values.Skip(1).Sum(g => long.Parse(g.Value, CultureInfo.InvariantCulture))
            : 0;
        var non2xx = Non2xx().Match(report) is { Success: true } n ? long.Parse(n.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        return new LoadResult(rps, p50, p99, megabytes, errors, non2xx);
    }

    private static double Number(string text) => double.Parse(text, CultureInfo.InvariantCulture);

    private static double Duration(Match match) => Number(match.Groups[2].Value) * match.Groups[3].Value switch
    {
        "us" => 0.001,
        "ms" => 1,
        "s" => 1000,
        _ => 60_000, // m
    };

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RequestsPerSecond();

    [GeneratedRegex(@"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", RegexOptions.Multiline)]
    private static partial Regex Percentile();

    [GeneratedRegex(@"Transfer/sec:\s+([\d.]+)(GB|MB|KB|B)")]
    private static partial Regex Transfer();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex SocketErrors();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex Non2xx();
}
