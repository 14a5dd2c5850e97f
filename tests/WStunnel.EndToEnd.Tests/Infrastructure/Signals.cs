using System.Runtime.InteropServices;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>POSIX signals, as a service manager sends them.</summary>
internal static partial class Signals
{
    private const int SigHup = 1;
    private const int SigTerm = 15;

    /// <summary>SIGTERM: what systemd, Docker and Kubernetes send to stop a service.</summary>
    public static void Terminate(int pid) =>
        Assert.True(Kill(pid, SigTerm) == 0, $"kill({pid}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");

    /// <summary>SIGHUP: what <c>systemctl reload</c> sends (ExecReload=kill -HUP $MAINPID).</summary>
    public static void HangUp(int pid) =>
        Assert.True(Kill(pid, SigHup) == 0, $"kill({pid}, SIGHUP) failed: errno {Marshal.GetLastPInvokeError()}");

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
