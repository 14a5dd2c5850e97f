using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>The standalone gateway (<c>wstunnel server</c>) in its own process on a free loopback port.</summary>
internal sealed partial class GatewayProcess : IDisposable
{
    private readonly string _directory;

    private GatewayProcess(CliProcess process, Uri address, string directory)
    {
        Process = process;
        Address = address;
        _directory = directory;
    }

    /// <summary>The <c>--cert</c> file, which a test may rewrite as a renewal would.</summary>
    public string CertificateFile => Path.Combine(_directory, "gateway.pem");

    /// <summary>The <c>--config</c> file, which the gateway watches for changes.</summary>
    public string ConfigFile => Path.Combine(_directory, "appsettings.json");

    /// <summary>The <c>--cert-key</c> file.</summary>
    public string KeyFile => Path.Combine(_directory, "gateway.key");

    public CliProcess Process { get; }

    public Uri Address { get; }

    /// <param name="settings">The <c>WStunnel</c> section, e.g. <c>new { KeepAliveInterval = "00:00:01" }</c>.</param>
    /// <param name="kestrel">The <c>Kestrel</c> section, if any.</param>
    /// <param name="metrics">The standalone gateway's <c>Metrics</c> section, if any.</param>
    /// <param name="urls">The <c>--urls</c> argument; <see cref="Address"/> is its first HTTPS address.</param>
    /// <param name="pem">The <c>--cert</c> and <c>--cert-key</c> files' text, instead of <paramref name="certificate"/>'s server certificate.</param>
    /// <param name="forwardedHeaders">The standalone gateway's <c>ForwardedHeaders</c> section, if any.</param>
    public static async Task<GatewayProcess> StartAsync(TestCertificate certificate, object? settings = null, object? kestrel = null, object? metrics = null, string urls = "https://127.0.0.1:0",
        (string Certificate, string Key)? pem = null, object? forwardedHeaders = null)
    {
        var directory = Directory.CreateTempSubdirectory("wstunnel-gateway-").FullName;
        var cert = Path.Combine(directory, "gateway.pem");
        var key = Path.Combine(directory, "gateway.key");
        var config = Path.Combine(directory, "appsettings.json");
        var (certificatePem, keyPem) = pem ?? TestCertificate.Pem(certificate.Server);
        await File.WriteAllTextAsync(cert, certificatePem);
        await File.WriteAllTextAsync(key, keyPem);
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new { WStunnel = settings ?? new { }, Kestrel = kestrel ?? new { }, Metrics = metrics ?? new { }, ForwardedHeaders = forwardedHeaders ?? new { } }));

        var process = CliProcess.Start(["server", "--urls", urls, "--cert", cert, "--cert-key", key, "--config", config]);
        try
        {
            var line = await process.WaitForOutputAsync("Now listening on: https://", TimeSpan.FromMinutes(1));
            var port = int.Parse(ListeningPort().Match(line).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            return new GatewayProcess(process, new Uri($"https://127.0.0.1:{port}"), directory);
        }
        catch
        {
            process.Dispose();
            Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    public void Dispose()
    {
        Process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [GeneratedRegex(@"https://127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningPort();
}
