using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace WStunnel.Cli.Hosting;

/// <summary>SIGHUP, which a daemon is expected to take as "read your files again" rather than die of.</summary>
internal static partial class HangUpSignal
{
    /// <summary>Runs <paramref name="onHangUp"/> on the thread pool at each SIGHUP instead of ending the process; null where there are no POSIX signals.</summary>
    public static IDisposable? Register(Action onHangUp)
    {
        ArgumentNullException.ThrowIfNull(onHangUp);
        return OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            ThreadPool.QueueUserWorkItem(static action => action(), onHangUp, preferLocal: false);
        });
    }

    /// <summary>
    /// Warns when SIGHUP is ignored in this process (as under <c>nohup</c>): the runtime keeps an
    /// inherited "ignore" in place, so a registered handler never runs and a reload would silently
    /// not happen. Linux only (from <c>/proc/self/status</c>); silent where it cannot tell.
    /// </summary>
    public static void WarnIfIgnored(ILogger logger, string reload)
    {
        if (IsIgnored())
        {
            Ignored(logger, reload);
        }
    }

    private static bool IsIgnored()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("SigIgn:", StringComparison.Ordinal))
                {
                    return (ulong.Parse(line.AsSpan("SigIgn:".Length).Trim(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture) & 1) != 0; // bit 0: signal 1, SIGHUP
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
        }

        return false;
    }

    [LoggerMessage(3009, LogLevel.Warning, "SIGHUP is ignored in this process, as when it is started with nohup, and stays ignored: SIGHUP will not make it {Reload}. Start it without nohup (a systemd service, or setsid) for reloads without a restart")]
    private static partial void Ignored(ILogger logger, string reload);
}
