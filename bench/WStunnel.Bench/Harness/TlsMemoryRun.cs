using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Reflection;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using WStunnel.Server;
using WStunnel.Server.Endpoints;

namespace WStunnel.Bench.Harness;

/// <summary>
/// What OpenSSL itself allocates for each TLS connection a gateway keeps open: <c>connections</c>
/// loopback connections (both ends in this process), OpenSSL's own allocation counter read before,
/// after, and once the client ends are closed; with the gateway's buffer release off and on, after
/// a small and after a large message each way. .NET keeps that counter only in a process started
/// with <c>DOTNET_OPENSSL_MEMORY_DEBUG=1</c>, and exposes it only to private reflection (a
/// diagnostic, documented in dotnet/runtime), so the harness runs the measurement as a child
/// process with the variable set.
/// </summary>
internal static class TlsMemoryRun
{
    private const string DebugVariable = "DOTNET_OPENSSL_MEMORY_DEBUG";

    public static async Task<string> RunAsync(int connections)
    {
        if (Environment.GetEnvironmentVariable(DebugVariable) != "1")
        {
            return await RunAsChildAsync(connections).ConfigureAwait(false);
        }

        var counter = typeof(Aes).Assembly.GetType("Interop+Crypto")?.GetMethod("GetOpenSslAllocatedMemory", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static)
            ?? throw new InvalidOperationException("this .NET has no OpenSSL allocation counter (Interop.Crypto.GetOpenSslAllocatedMemory)");
        long Allocated() => Convert.ToInt64(counter.Invoke(null, null), CultureInfo.InvariantCulture);

        var directory = Directory.CreateTempSubdirectory("wstunnel-tls-memory-").FullName;
        try
        {
            var files = BenchCertificate.Create(directory);
            using var pem = X509Certificate2.CreateFromPemFile(files.CertFile, files.KeyFile);
            using var certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            var context = SslStreamCertificateContext.Create(certificate, null);
            var trust = BenchCertificate.TrustOnly(files.CaFile);
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();

            // One connection first, so that OpenSSL's per-process state (its context, caches) is not counted.
            await MeasureAsync(listener, context, trust, 1, release: false, 128, Allocated).ConfigureAwait(false);

            var text = new StringBuilder();
            text.AppendLine(CultureInfo.InvariantCulture, $"TLS memory, {DateTime.UtcNow:yyyy-MM-dd}: {connections} idle TLS 1.3 connections on loopback (ECDSA P-256 certificate), OpenSSL's own allocation counter; release = the gateway's `ReleaseIdleTlsBuffers` (SSL_MODE_RELEASE_BUFFERS) on the server end.");
            text.AppendLine();
            text.AppendLine("| connection's past | release | server and client end | server end alone (what a gateway holds per idle agent) |");
            text.AppendLine("|---|---|---:|---:|");
            foreach (var (past, message) in new[] { ("one 128 B message each way", 128), ("one 64 KiB message each way", 64 * 1024) })
            {
                foreach (var release in new[] { false, true })
                {
                    var (both, serverOnly) = await MeasureAsync(listener, context, trust, connections, release, message, Allocated).ConfigureAwait(false);
                    text.AppendLine(CultureInfo.InvariantCulture, $"| {past} | {(release ? "on" : "off")} | {both / 1024.0 / connections:0.0} KiB | {serverOnly / 1024.0 / connections:0.0} KiB |");
                }
            }

            return text.ToString();
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>OpenSSL's bytes for <paramref name="connections"/> connections with both ends open, then with only the server ends.</summary>
    private static async Task<(long Both, long ServerOnly)> MeasureAsync(
        TcpListener listener, SslStreamCertificateContext context, X509ChainPolicy trust, int connections, bool release, int message, Func<long> allocated)
    {
        var releaser = new TlsBufferRelease(Options.Create(new WStunnelOptions { ReleaseIdleTlsBuffers = release }), NullLogger<TlsBufferRelease>.Instance);
        var servers = new List<SslStream>();
        var clients = new List<SslStream>();
        var before = allocated();
        for (var i = 0; i < connections; i++)
        {
            var (server, client) = await ConnectAsync(listener, context, trust).ConfigureAwait(false);
            if (release && !releaser.Apply(server))
            {
                throw new InvalidOperationException("the gateway's TLS buffer release does not work on this machine");
            }

            // What a tunnel that then went idle has done: a message each way.
            var buffer = new byte[message];
            await client.WriteAsync(buffer).ConfigureAwait(false);
            await server.ReadExactlyAsync(buffer).ConfigureAwait(false);
            await server.WriteAsync(buffer).ConfigureAwait(false);
            await client.ReadExactlyAsync(buffer).ConfigureAwait(false);
            servers.Add(server);
            clients.Add(client);
        }

        var both = allocated() - before;
        foreach (var client in clients)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var serverOnly = allocated() - before;
        foreach (var server in servers)
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        return (both, serverOnly);
    }

    private static async Task<(SslStream Server, SslStream Client)> ConnectAsync(TcpListener listener, SslStreamCertificateContext context, X509ChainPolicy trust)
    {
        var socket = new TcpClient();
        var accepting = listener.AcceptTcpClientAsync();
        await socket.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port).ConfigureAwait(false);
        var accepted = await accepting.ConfigureAwait(false);
        var server = new SslStream(accepted.GetStream(), leaveInnerStreamOpen: false);
        var client = new SslStream(socket.GetStream(), leaveInnerStreamOpen: false);
        await Task.WhenAll(
            server.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificateContext = context }),
            client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", CertificateChainPolicy = trust })).ConfigureAwait(false);
        return (server, client);
    }

    private static async Task<string> RunAsChildAsync(int connections)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "WStunnel.Bench.dll"));
        start.ArgumentList.Add("tls-memory");
        start.ArgumentList.Add("--connections");
        start.ArgumentList.Add(connections.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add("--child");
        start.Environment[DebugVariable] = "1";
        using var child = Process.Start(start) ?? throw new InvalidOperationException("could not start the measuring process");
        var output = await child.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
        await child.WaitForExitAsync().ConfigureAwait(false);
        return child.ExitCode == 0 ? output.TrimEnd() + Environment.NewLine : throw new InvalidOperationException($"the measuring process failed ({child.ExitCode}):\n{output}");
    }
}
