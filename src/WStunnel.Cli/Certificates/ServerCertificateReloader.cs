using System.Net.Security;
using System.Security.Cryptography;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace WStunnel.Cli.Certificates;

/// <summary>
/// Picks up a renewed certificate without a restart, so agents' tunnels and clients' connections stay
/// open: reads <c>--cert</c> and <c>--cert-key</c> every <see cref="Interval"/> and on SIGHUP, and
/// when their bytes changed and make a usable certificate, new handshakes present it. Files that do
/// not (a renewal half written, a key that does not match) leave the current certificate in place,
/// with one warning per version of the files.
/// </summary>
internal sealed partial class ServerCertificateReloader : BackgroundService
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMinutes(1);

    private readonly ServerCertificate _certificate;
    private readonly PemCertificateFiles _files;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _hangUp = new(0, 1);
    private readonly IDisposable? _hangUpRegistration;
    private readonly Lock _checking = new();
    private string _loaded;
    private string? _refused;

    public ServerCertificateReloader(ServerCertificate certificate, PemCertificateFiles files, string loadedFingerprint, ILogger logger, TimeProvider time, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(files);
        _certificate = certificate;
        _files = files;
        _loaded = loadedFingerprint;
        _logger = logger;
        _time = time;
        Interval = interval ?? DefaultInterval;

        // SIGHUP, as for nginx and most daemons (systemd's ExecReload, a certbot deploy hook): check now.
        // Unhandled, it would end the process; registered here, before the host starts Kestrel.
        _hangUpRegistration = Hosting.HangUpSignal.Register(() =>
        {
            try
            {
                _hangUp.Release();
            }
            catch (SemaphoreFullException)
            {
                // A check is already due.
            }
            catch (ObjectDisposedException)
            {
                // Stopping.
            }
        });
    }

    public TimeSpan Interval { get; }

    /// <summary>Loads both files once: the certificate to start with, and the fingerprint of the files it came from.</summary>
    public static (ServerCertificate Certificate, string Fingerprint) LoadInitial(PemCertificateFiles files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var contents = files.Read();
        return (new ServerCertificate(files.Load(contents)), contents.Fingerprint);
    }

    /// <summary>Reads the files; true when they changed and the gateway now presents the certificate they hold.</summary>
    public bool Check()
    {
        lock (_checking)
        {
            PemCertificateFiles.Contents contents;
            try
            {
                contents = _files.Read();
            }
            catch (CertificateFileException ex)
            {
                Refuse(ex.Message); // unreadable (moved, permissions): said at every check until it is back
                return false;
            }

            if (contents.Fingerprint == _loaded || contents.Fingerprint == _refused)
            {
                return false;
            }

            SslStreamCertificateContext context;
            try
            {
                context = _files.Load(contents);
            }
            catch (CertificateFileException ex)
            {
                _refused = contents.Fingerprint; // said once for this version of the files
                Refuse(ex.Message);
                return false;
            }

            if (PemCertificateFiles.NotValidAt(context.TargetCertificate, _time.GetUtcNow()) is { } invalid)
            {
                _refused = contents.Fingerprint;
                Refuse($"'{_files.CertificateFile}' holds a certificate that is not valid now: {invalid}");
                context.TargetCertificate.Dispose();
                return false;
            }

            _certificate.Replace(context);
            _loaded = contents.Fingerprint;
            _refused = null;
            var replaced = context.TargetCertificate;
            LogReloaded(_logger, replaced.Subject, replaced.NotAfter.ToUniversalTime(), replaced.GetCertHashString(HashAlgorithmName.SHA256), context.IntermediateCertificates.Count);
            return true;
        }
    }

    private void Refuse(string reason)
    {
        var current = _certificate.Context.TargetCertificate;
        LogRefused(_logger, reason, current.Subject, current.NotAfter.ToUniversalTime());
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Started with anyway (the renewal may be on its way), but nobody who checks will accept it.
        if (PemCertificateFiles.NotValidAt(_certificate.Context.TargetCertificate, _time.GetUtcNow()) is { } invalid)
        {
            LogNotValid(_logger, invalid);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            using var tick = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var timer = Task.Delay(Interval, _time, tick.Token);
            var signal = _hangUp.WaitAsync(tick.Token);
            await Task.WhenAny(timer, signal).ConfigureAwait(false);
            await tick.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(timer, signal).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (stoppingToken.IsCancellationRequested)
            {
                return;
            }

            if (signal.IsCompletedSuccessfully)
            {
                LogHangUp(_logger);
            }

            Check();
        }
    }

    public override void Dispose()
    {
        _hangUpRegistration?.Dispose();
        _hangUp.Dispose();
        base.Dispose();
    }

    [LoggerMessage(3002, LogLevel.Information, "Server certificate reloaded: subject {Subject}, valid until {NotAfter:u}, SHA-256 {Fingerprint}, {Intermediates} intermediate certificates; new connections present it")]
    private static partial void LogReloaded(ILogger logger, string subject, DateTime notAfter, string fingerprint, int intermediates);

    [LoggerMessage(3003, LogLevel.Warning, "Server certificate not reloaded: {Reason}. Still presenting subject {Subject}, valid until {NotAfter:u}")]
    private static partial void LogRefused(ILogger logger, string reason, string subject, DateTime notAfter);

    [LoggerMessage(3005, LogLevel.Warning, "The server certificate is not valid now ({Reason}): clients and agents that verify it will refuse it. Renew it; the gateway picks up the new files by itself")]
    private static partial void LogNotValid(ILogger logger, string reason);

    [LoggerMessage(3004, LogLevel.Information, "SIGHUP: checking the certificate files now")]
    private static partial void LogHangUp(ILogger logger);
}
