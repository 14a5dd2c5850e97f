using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace WStunnel.Cli.Certificates;

/// <summary>
/// The certificate the standalone gateway's HTTPS endpoints present, with its chain. It can be replaced
/// whole while the gateway runs (a renewed certificate): each new TLS handshake takes the current one,
/// connections already open keep theirs.
/// </summary>
internal sealed class ServerCertificate
{
    private volatile SslStreamCertificateContext _context;

    public ServerCertificate(SslStreamCertificateContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        _context = context;
    }

    /// <summary>A certificate that never changes (the demo's).</summary>
    public static ServerCertificate Fixed(X509Certificate2 certificate) =>
        new(SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true));

    public SslStreamCertificateContext Context => _context;

    public void Replace(SslStreamCertificateContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        _context = context;
    }

    /// <summary>Makes Kestrel present this certificate, and whatever replaces it, with its chain.</summary>
    public void ApplyTo(HttpsConnectionAdapterOptions https)
    {
        ArgumentNullException.ThrowIfNull(https);

        // Kestrel checks these once at start-up; every handshake then takes the current context,
        // unless the endpoint was given a certificate of its own (Kestrel:Endpoints:NAME:Certificate).
        var initial = _context;
        https.ServerCertificate = initial.TargetCertificate;
        https.ServerCertificateChain = [.. initial.IntermediateCertificates];
        https.OnAuthenticate = (_, ssl) =>
        {
            if (ReferenceEquals(https.ServerCertificate, initial.TargetCertificate))
            {
                ssl.ServerCertificateContext = _context;
            }
        };
    }
}
