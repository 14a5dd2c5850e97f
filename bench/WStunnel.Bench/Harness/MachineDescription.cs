using System.Globalization;
using System.Runtime.InteropServices;

namespace WStunnel.Bench.Harness;

/// <summary>
/// The line under every report that says where it ran. The CPU and its last-level cache belong in it:
/// the workstation GC sizes its young generation from that cache, and the ratios moved between two
/// machines that both had 2 cores and 24 GiB (bench/README: the garbage collector).
/// </summary>
internal static class MachineDescription
{
    public static string Describe()
    {
        var memory = Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024));
        var gc = System.Runtime.GCSettings.IsServerGC ? "server GC" : "workstation GC";
        return string.Create(CultureInfo.InvariantCulture,
            $"Machine: {Environment.ProcessorCount} cores{Cpu()}, {memory} GiB, {RuntimeInformation.OSDescription}, .NET {Environment.Version}; the harness, hop and backend on the {gc}.");
    }

    /// <summary>", CPU-NAME, L3 SIZE" from Linux's descriptions, or nothing where they are missing.</summary>
    private static string Cpu()
    {
        try
        {
            var name = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
            var cache = ReadOrNull("/sys/devices/system/cpu/cpu0/cache/index3/size");
            return (name, cache) switch
            {
                (null, null) => "",
                (_, null) => $", {name}",
                (null, _) => $", L3 {Kibibytes(cache)}",
                _ => $", {name}, L3 {Kibibytes(cache)}",
            };
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static string? ReadOrNull(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : null;

    /// <summary>"266240K" as "260 MiB".</summary>
    private static string Kibibytes(string size) =>
        size.EndsWith('K') && long.TryParse(size[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var kib) && kib % 1024 == 0
            ? $"{kib / 1024} MiB"
            : size;
}
