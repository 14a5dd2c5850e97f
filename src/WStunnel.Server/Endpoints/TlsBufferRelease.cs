using System.Net.Security;
using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Server.Diagnostics;

namespace WStunnel.Server.Endpoints;

/// <summary>
/// Asks OpenSSL to free an agent connection's TLS record buffers whenever they are empty
/// (<c>SSL_MODE_RELEASE_BUFFERS</c>, which nginx sets on every connection). Without it each idle
/// agent holds ≈ 33 KiB of read and write buffers in the gateway for the life of its tunnel,
/// resident as far as its records have filled them; with it a buffer exists only while a record
/// passes.
/// </summary>
/// <remarks>
/// .NET neither sets the mode nor exposes a connection's <c>SSL</c> handle, so this reads the handle
/// from <see cref="SslStream"/>'s private field and calls <c>SSL_ctrl</c> in the libssl .NET has
/// loaded. Setting a mode flag is safe while the connection is in use: OpenSSL frees a buffer only
/// inside its own reads and writes, when the buffer is empty, and allocates it again on demand.
/// Where anything is not as expected (not Linux, another .NET, no single libssl in the process) it
/// does nothing and says why once.
/// </remarks>
internal sealed unsafe class TlsBufferRelease(IOptions<WStunnelOptions> options, ILogger<TlsBufferRelease> logger)
{
    private const int SslCtrlMode = 33;               // SSL_CTRL_MODE (openssl/ssl.h)
    private const int SslModeReleaseBuffers = 0x10;   // SSL_MODE_RELEASE_BUFFERS (openssl/ssl.h)
    private const string SslHandleType = "Microsoft.Win32.SafeHandles.SafeSslHandle";

    private readonly Lazy<Native?> _native = new(() => Found(logger));
    private long _applied;

    /// <summary>How many connections the release has been set on (for diagnostics and tests).</summary>
    public long Applied => Interlocked.Read(ref _applied);

    /// <summary>Releases the idle buffers of the TLS connection under <paramref name="stream"/>; false where it cannot.</summary>
    public bool Apply(SslStream? stream)
    {
        if (stream is null || !options.Value.ReleaseIdleTlsBuffers || _native.Value is not { } native)
        {
            return false;
        }

        if (native.SecurityContext.GetValue(stream) is not SafeHandle ssl || ssl.GetType().FullName != SslHandleType)
        {
            return false;
        }

        var added = false;
        try
        {
            // Holds the handle so that a connection closing meanwhile cannot free the SSL under the call.
            ssl.DangerousAddRef(ref added);
            var mode = native.SslCtrl(ssl.DangerousGetHandle(), SslCtrlMode, new CLong(SslModeReleaseBuffers), 0);
            if ((mode.Value & SslModeReleaseBuffers) == 0)
            {
                return false;
            }

            Interlocked.Increment(ref _applied);
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (added)
            {
                ssl.DangerousRelease();
            }
        }
    }

    private static Native? Found(ILogger logger)
    {
        string reason;
        Native? native;
        try
        {
            native = Native.Find(out reason);
        }
#pragma warning disable CA1031 // Whatever went wrong, agents connect as before; the log says why.
        catch (Exception exception)
#pragma warning restore CA1031
        {
            (native, reason) = (null, exception.Message);
        }

        if (native is null && !OperatingSystem.IsLinux())
        {
            ServerLog.TlsBuffersNotOpenSsl(logger); // nothing to release: not a problem worth an operator's attention
        }
        else if (native is null)
        {
            ServerLog.TlsBuffersKept(logger, reason);
        }
        else
        {
            ServerLog.TlsBuffersReleased(logger);
        }

        return native;
    }

    private sealed class Native(FieldInfo securityContext, delegate* unmanaged<nint, int, CLong, nint, CLong> sslCtrl)
    {
        public FieldInfo SecurityContext { get; } = securityContext;

        public CLong SslCtrl(nint ssl, int command, CLong argument, nint pointer) => sslCtrl(ssl, command, argument, pointer);

        public static Native? Find(out string reason)
        {
            if (!OperatingSystem.IsLinux())
            {
                reason = "TLS here is not OpenSSL";
                return null;
            }

            var field = typeof(SslStream).GetField("_securityContext", BindingFlags.NonPublic | BindingFlags.Instance);
            if (field is null || !typeof(SafeHandle).IsAssignableFrom(field.FieldType))
            {
                reason = "this .NET keeps SslStream's TLS handle elsewhere";
                return null;
            }

            // The libssl .NET loaded itself: another one would not know .NET's SSL objects.
            var loaded = LoadedLibraries("libssl.so");
            if (loaded.Count != 1)
            {
                reason = loaded.Count == 0 ? "no libssl is loaded in this process" : $"several libssl are loaded ({string.Join(", ", loaded)})";
                return null;
            }

            if (!NativeLibrary.TryLoad(loaded[0], out var library) || !NativeLibrary.TryGetExport(library, "SSL_ctrl", out var export))
            {
                reason = $"SSL_ctrl was not found in {loaded[0]}";
                return null;
            }

            reason = "";
            return new Native(field, (delegate* unmanaged<nint, int, CLong, nint, CLong>)export);
        }

        private static List<string> LoadedLibraries(string prefix)
        {
            var paths = new List<string>();
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var start = line.IndexOf('/', StringComparison.Ordinal);
                if (start >= 0 && Path.GetFileName(line.AsSpan(start)).StartsWith(prefix, StringComparison.Ordinal))
                {
                    var path = line[start..];
                    if (!paths.Contains(path))
                    {
                        paths.Add(path);
                    }
                }
            }

            return paths;
        }
    }
}
