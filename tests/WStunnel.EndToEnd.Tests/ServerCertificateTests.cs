using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using WStunnel.Cli.Certificates;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// The standalone gateway's <c>--cert</c> and <c>--cert-key</c>: the chain the file holds is served, and a
/// renewed certificate is taken up without a restart, so no tunnel or client connection drops.
/// </summary>
public sealed class ServerCertificateTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_certificate_from_an_intermediate_CA_is_served_with_the_intermediate_the_file_holds()
    {
        using var chain = IntermediateChain.Create();
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate, pem: (chain.FullChainPem, chain.KeyPem));

        // The agent trusts the root alone: it can only connect if the gateway sends the intermediate.
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(gateway.Address), "chained-" + Guid.NewGuid().ToString("N"),
            fixture.Backend.Address, chain.RootFile, null, waitForTunnel: true);
        Assert.Equal([chain.Leaf.Thumbprint, chain.Intermediate.Thumbprint], await PresentedChainAsync(gateway.Address));
    }

    [Fact]
    public async Task A_renewed_certificate_is_presented_after_SIGHUP_while_open_tunnels_stay_up()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate);
        var token = "renewal-" + Guid.NewGuid().ToString("N");
        var agentLog = new ListLogger();
        await using var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(gateway.Address), token, fixture.Backend.Address, fixture.Certificate.CaFile, null, logger: agentLog);
        using var renewed = fixture.Certificate.IssueServerCertificate("localhost", loopbackAddress: true);

        await WriteAsync(gateway, TestCertificate.Pem(renewed));
        Signals.HangUp(gateway.Process.Id);

        var reloaded = await gateway.Process.WaitForOutputAsync("Server certificate reloaded", Patience);
        Assert.Contains(renewed.GetCertHashString(HashAlgorithmName.SHA256), reloaded, StringComparison.Ordinal);
        Assert.Equal(renewed.Thumbprint, (await PresentedChainAsync(gateway.Address))[0]);

        // The tunnel opened before the renewal still carries requests, on its first connection.
        using var client = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == renewed.GetCertHashString() } })
        {
            BaseAddress = gateway.Address,
        };
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{token}/status/200"));
        Assert.Single(agentLog.Lines, line => line.Contains("Tunnel open", StringComparison.Ordinal));
        Assert.False(gateway.Process.HasExited);
    }

    [Fact]
    public async Task Files_that_do_not_make_a_certificate_leave_the_current_one_in_place_until_they_do()
    {
        using var gateway = await GatewayProcess.StartAsync(fixture.Certificate);
        using var renewed = fixture.Certificate.IssueServerCertificate("localhost", loopbackAddress: true);
        var (renewedCertificate, renewedKey) = TestCertificate.Pem(renewed);

        // Half a renewal: the new certificate beside the old key.
        await File.WriteAllTextAsync(gateway.CertificateFile, renewedCertificate);
        Signals.HangUp(gateway.Process.Id);
        var refused = await gateway.Process.WaitForOutputAsync("Server certificate not reloaded", Patience);
        Assert.Contains("is not a PEM certificate and its private key", refused, StringComparison.Ordinal);
        Assert.Equal(fixture.Certificate.Server.Thumbprint, (await PresentedChainAsync(gateway.Address))[0]);

        // The other half arrives: the next check takes it.
        await File.WriteAllTextAsync(gateway.KeyFile, renewedKey);
        Signals.HangUp(gateway.Process.Id);
        await gateway.Process.WaitForOutputAsync("Server certificate reloaded", Patience);
        Assert.Equal(renewed.Thumbprint, (await PresentedChainAsync(gateway.Address))[0]);
    }

    [Fact]
    public async Task Without_a_signal_the_files_are_checked_every_interval()
    {
        using var directory = new TemporaryDirectory();
        var files = new PemCertificateFiles(Path.Combine(directory.Path, "cert.pem"), Path.Combine(directory.Path, "key.pem"));
        await WriteAsync(files, TestCertificate.Pem(fixture.Certificate.Server));
        var (certificate, fingerprint) = ServerCertificateReloader.LoadInitial(files);
        var log = new ListLogger();
        using var reloader = new ServerCertificateReloader(certificate, files, fingerprint, log, TimeProvider.System, TimeSpan.FromMilliseconds(100));
        await reloader.StartAsync(CancellationToken.None);
        using var renewed = fixture.Certificate.IssueServerCertificate("localhost", loopbackAddress: true);

        await WriteAsync(files, TestCertificate.Pem(renewed));

        await Eventually.WaitUntil(() => certificate.Context.TargetCertificate.Thumbprint == renewed.Thumbprint, "the reloader to take up the renewed files");
        await reloader.StopAsync(CancellationToken.None);
        Assert.Single(log.Lines, line => line.Contains("Server certificate reloaded", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_certificate_that_is_no_longer_valid_does_not_replace_a_valid_one_and_is_named_once()
    {
        using var directory = new TemporaryDirectory();
        var files = new PemCertificateFiles(Path.Combine(directory.Path, "cert.pem"), Path.Combine(directory.Path, "key.pem"));
        await WriteAsync(files, TestCertificate.Pem(fixture.Certificate.Server));
        var (certificate, fingerprint) = ServerCertificateReloader.LoadInitial(files);
        var log = new ListLogger();
        using var reloader = new ServerCertificateReloader(certificate, files, fingerprint, log, TimeProvider.System);
        using var expired = fixture.Certificate.IssueClientCertificate("expired-server", clientAuthentication: false, expired: true);

        File.Copy(expired.CertificateFile, files.CertificateFile, overwrite: true);
        File.Copy(expired.KeyFile, files.KeyFile, overwrite: true);

        Assert.False(reloader.Check());
        Assert.False(reloader.Check()); // the same files again: nothing new to say
        Assert.Equal(fixture.Certificate.Server.Thumbprint, certificate.Context.TargetCertificate.Thumbprint);
        var refusal = Assert.Single(log.Lines, line => line.Contains("not reloaded", StringComparison.Ordinal));
        Assert.Contains("not valid now", refusal, StringComparison.Ordinal);
        Assert.Contains("CN=expired-server", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_meant_only_for_clients_is_refused_with_its_reason()
    {
        using var directory = new TemporaryDirectory();
        var files = new PemCertificateFiles(Path.Combine(directory.Path, "cert.pem"), Path.Combine(directory.Path, "key.pem"));
        using var clientOnly = fixture.Certificate.IssueClientCertificate("client-only");
        File.Copy(clientOnly.CertificateFile, files.CertificateFile);
        File.Copy(clientOnly.KeyFile, files.KeyFile);

        var error = Assert.Throws<CertificateFileException>(() => ServerCertificateReloader.LoadInitial(files));
        Assert.Contains("lacks server authentication", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_gateway_does_not_start_on_a_certificate_whose_key_does_not_match_and_says_so()
    {
        using var other = fixture.Certificate.IssueServerCertificate("localhost", loopbackAddress: true);
        using var directory = new TemporaryDirectory();
        var cert = Path.Combine(directory.Path, "gateway.pem");
        var key = Path.Combine(directory.Path, "gateway.key");
        await File.WriteAllTextAsync(cert, TestCertificate.Pem(fixture.Certificate.Server).Certificate);
        await File.WriteAllTextAsync(key, TestCertificate.Pem(other).Key);

        using var process = CliProcess.Start(["server", "--urls", "https://127.0.0.1:0", "--cert", cert, "--cert-key", key]);

        Assert.Equal(2, await process.WaitForExitAsync(Patience));
        Assert.Contains($"--cert/--cert-key: '{cert}' with the key '{key}' is not a PEM certificate and its private key", process.Output, StringComparison.Ordinal);
    }

    private static Task WriteAsync(GatewayProcess gateway, (string Certificate, string Key) pem) =>
        WriteAsync(new PemCertificateFiles(gateway.CertificateFile, gateway.KeyFile), pem);

    private static async Task WriteAsync(PemCertificateFiles files, (string Certificate, string Key) pem)
    {
        // Written aside and renamed, as renewal tools do, so a check never sees half a file.
        await File.WriteAllTextAsync(files.KeyFile + ".new", pem.Key);
        await File.WriteAllTextAsync(files.CertificateFile + ".new", pem.Certificate);
        File.Move(files.KeyFile + ".new", files.KeyFile, overwrite: true);
        File.Move(files.CertificateFile + ".new", files.CertificateFile, overwrite: true);
    }

    /// <summary>The thumbprints of the certificates a new TLS connection to <paramref name="address"/> is sent, leaf first.</summary>
    private static async Task<string[]> PresentedChainAsync(Uri address)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, address.Port);
        string[] presented = [];
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                // What the server sent beyond its own certificate arrives in the chain's extra store.
                var leaf = ((X509Certificate2)certificate!).Thumbprint;
                presented = [leaf, .. chain!.ChainPolicy.ExtraStore.Select(c => c.Thumbprint).Where(t => t != leaf)];
                return true;
            },
        });
        return presented;
    }

    /// <summary>A root CA, an intermediate CA it signed, and a server certificate the intermediate signed.</summary>
    private sealed class IntermediateChain : IDisposable
    {
        private IntermediateChain(X509Certificate2 root, X509Certificate2 intermediate, X509Certificate2 leaf, string rootFile)
        {
            Root = root;
            Intermediate = intermediate;
            Leaf = leaf;
            RootFile = rootFile;
        }

        public X509Certificate2 Root { get; }

        public X509Certificate2 Intermediate { get; }

        public X509Certificate2 Leaf { get; }

        public string RootFile { get; }

        public string FullChainPem => Leaf.ExportCertificatePem() + "\n" + Intermediate.ExportCertificatePem();

        public string KeyPem => Leaf.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem();

        public static IntermediateChain Create()
        {
            var root = TestCertificate.CreateAuthority("CN=WStunnel test root", issuer: null);
            var intermediate = TestCertificate.CreateAuthority("CN=WStunnel test intermediate", root);
            var leaf = TestCertificate.IssueServerCertificate(intermediate, "localhost", loopbackAddress: true);
            var rootFile = Path.Combine(Path.GetTempPath(), $"wstunnel-test-root-{Guid.NewGuid():N}.pem");
            File.WriteAllText(rootFile, root.ExportCertificatePem());
            return new IntermediateChain(root, intermediate, leaf, rootFile);
        }

        public void Dispose()
        {
            Root.Dispose();
            Intermediate.Dispose();
            Leaf.Dispose();
            File.Delete(RootFile);
        }
    }
}
