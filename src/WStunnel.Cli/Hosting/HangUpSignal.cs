using System.Runtime.InteropServices;

namespace WStunnel.Cli.Hosting;

/// <summary>SIGHUP, which a daemon is expected to take as "read your files again" rather than die of.</summary>
internal static class HangUpSignal
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
}
