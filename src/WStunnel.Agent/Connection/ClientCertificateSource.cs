using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using WStunnel.Agent.Configuration;
using WStunnel.Agent.Diagnostics;

namespace WStunnel.Agent.Connection;

/// <summary>
/// The client certificate the agent presents, from its files. They are read again whenever a TLS
/// connection to the gateway asks for it, so a renewed certificate (short-lived ones are renewed
/// daily) is presented from the next connection on — the WebSocket's, a long-poll's or a resume's —
/// without a restart. Files that do not make a usable certificate leave the current one in place,
/// with one warning per version of the files.
/// </summary>
internal sealed class ClientCertificateSource : IDisposable
{
    private readonly WStunnelAgentOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _refreshing = new();
    private X509Certificate2 _current;
    private string _loaded;
    private string? _refused;

    private ClientCertificateSource(WStunnelAgentOptions options, ILogger logger, TimeProvider time, X509Certificate2 current, string loaded)
    {
        _options = options;
        _logger = logger;
        _time = time;
        _current = current;
        _loaded = loaded;
    }

    /// <summary>The configured certificate, or null when the agent presents none; a bad one throws, naming the setting.</summary>
    public static ClientCertificateSource? Create(WStunnelAgentOptions options, ILogger logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        return AgentClientCertificate.Read(options) is { } files
            ? new ClientCertificateSource(options, logger, time, AgentClientCertificate.Load(options, files), files.Fingerprint)
            : null;
    }

    /// <summary>The certificate presented now.</summary>
    public X509Certificate2 Current => Volatile.Read(ref _current);

    /// <summary>For a TLS handshake that asks for it: the certificate the files hold now.</summary>
    public X509Certificate2 ForHandshake()
    {
        lock (_refreshing)
        {
            TakeUpChangedFiles();
        }

        return Current;
    }

    /// <summary>Takes up changed files; true when the certificate was replaced.</summary>
    private bool TakeUpChangedFiles()
    {
        AgentClientCertificate.Files files;
        try
        {
            files = AgentClientCertificate.Read(_options)!;
        }
        catch (InvalidOperationException ex)
        {
            Refuse(ex.Message); // unreadable (moved, permissions): said at every attempt until it is back
            return false;
        }

        if (files.Fingerprint == _loaded || files.Fingerprint == _refused)
        {
            return false;
        }

        X509Certificate2 replacement;
        try
        {
            replacement = AgentClientCertificate.Load(_options, files);
        }
        catch (InvalidOperationException ex)
        {
            _refused = files.Fingerprint; // said once for this version of the files
            Refuse(ex.Message);
            return false;
        }

        var now = _time.GetUtcNow().UtcDateTime;
        if (replacement.NotAfter.ToUniversalTime() <= now || replacement.NotBefore.ToUniversalTime() > now)
        {
            _refused = files.Fingerprint;
            Refuse($"ClientCertificateFile '{_options.ClientCertificateFile}' holds {replacement.Subject}, valid from {replacement.NotBefore.ToUniversalTime():u} to {replacement.NotAfter.ToUniversalTime():u}, not now");
            replacement.Dispose();
            return false;
        }

        // The certificate replaced is left to the collector: a handshake under way may still hold it.
        Volatile.Write(ref _current, replacement);
        _loaded = files.Fingerprint;
        _refused = null;
        AgentLog.ClientCertificateReloaded(_logger, replacement.Subject, replacement.NotAfter.ToUniversalTime(), replacement.GetCertHashString(HashAlgorithmName.SHA256));
        return true;
    }

    /// <summary>Frees the certificate in use; those it replaced were left to the collector.</summary>
    public void Dispose() => Current.Dispose();

    private void Refuse(string reason)
    {
        var current = Current;
        AgentLog.ClientCertificateNotReloaded(_logger, reason, current.Subject, current.NotAfter.ToUniversalTime());
    }
}
