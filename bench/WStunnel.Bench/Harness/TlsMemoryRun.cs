using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Reflection;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace WStunnel.Bench.Harness;

/// <summary>
/// What OpenSSL itself allocates for each TLS connection a gateway keeps open: <c>connections</c>
/// loopback connections (both ends in this process), OpenSSL's own allocation counter read before,
/// after, and once the client ends are closed. .NET keeps that counter only in a process started
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
            var trust = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            trust.CustomTrustStore.Add(X509Certificate2.CreateFromPem(File.ReadAllText(files.CaFile)));
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var servers = new List<SslStream>();
            var clients = new List<SslStream>();

            // One connection first, so that OpenSSL's per-process state (its context, caches) is not counted.
            await ConnectAsync(listener, context, trust, servers, clients).ConfigureAwait(false);
            var before = Allocated();
            for (var i = 0; i < connections; i++)
            {
                await ConnectAsync(listener, context, trust, servers, clients).ConfigureAwait(false);
            }

            var both = Allocated() - before;
            foreach (var client in clients)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }

            GC.Collect();
            GC.WaitForPendingFinalizers();
            var serverOnly = Allocated() - before;
            foreach (var server in servers)
            {
                await server.DisposeAsync().ConfigureAwait(false);
            }

            var text = new StringBuilder();
            text.AppendLine(CultureInfo.InvariantCulture, $"TLS memory, {DateTime.UtcNow:yyyy-MM-dd}: {connections} idle TLS 1.3 connections on loopback (ECDSA P-256 certificate, one small exchange each), OpenSSL's own allocation counter.");
            text.AppendLine();
            text.AppendLine("| measurement | per connection |");
            text.AppendLine("|---|---:|");
            text.AppendLine(CultureInfo.InvariantCulture, $"| allocated by OpenSSL, server and client end | {both / 1024.0 / connections:0.0} KiB |");
            text.AppendLine(CultureInfo.InvariantCulture, $"| allocated by OpenSSL, server end alone (what a gateway holds per idle agent) | {serverOnly / 1024.0 / connections:0.0} KiB |");
            return text.ToString();
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task ConnectAsync(TcpListener listener, SslStreamCertificateContext context, X509ChainPolicy trust, List<SslStream> servers, List<SslStream> clients)
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

        // What an idle tunnel has done: a message each way, then nothing.
        var message = new byte[128];
        await client.WriteAsync(message).ConfigureAwait(false);
        await server.ReadExactlyAsync(message).ConfigureAwait(false);
        await server.WriteAsync(message).ConfigureAwait(false);
        await client.ReadExactlyAsync(message).ConfigureAwait(false);
        servers.Add(server);
        clients.Add(client);
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
