using System.Globalization;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>What a process holds, read from /proc: open descriptors, threads, resident memory.</summary>
internal readonly record struct ProcessGauge(int Descriptors, int Threads, long ResidentBytes)
{
    public static ProcessGauge Read(int pid)
    {
        var descriptors = Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length;
        int threads = 0;
        long resident = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = int.Parse(line["Threads:".Length..].Trim(), CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                resident = 1024 * long.Parse(line["VmRSS:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
            }
        }

        return new ProcessGauge(descriptors, threads, resident);
    }

    public override string ToString() => $"{Descriptors} descriptors, {Threads} threads, {ResidentBytes / (1024 * 1024)} MiB resident";
}
