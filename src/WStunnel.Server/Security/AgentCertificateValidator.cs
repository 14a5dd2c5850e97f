using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace WStunnel.Server.Security;

/// <summary>
/// Decides whether an agent's client certificate is acceptable: it chains to the configured CA
/// (and only to it, never to the machine's store), is valid now, and is meant for client authentication.
/// </summary>
internal sealed class AgentCertificateValidator
{
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private readonly X509Certificate2Collection _trusted = [];
    private readonly X509RevocationMode _revocation;
    private readonly string? _forwardedHeader;
    private readonly NetworkList? _forwardingProxies;

    public AgentCertificateValidator(IOptions<WStunnelOptions> options)
    {
        var settings = options.Value.AgentCertificates;
        Required = settings.Required;
        _revocation = settings.RevocationMode;
        if (Required)
        {
            _trusted = LoadTrusted(settings.TrustedCaFile!);
            _forwardedHeader = settings.ForwardedHeader;
            _forwardingProxies = _forwardedHeader is null ? null : new NetworkList(settings.ForwardingProxies);
        }
    }

    public bool Required { get; }

    /// <summary>
    /// The certificate the agent presented: from its TLS handshake, or — only on a connection from a
    /// configured forwarding proxy — from the header that proxy passes it in. Null when there is none.
    /// </summary>
    public async Task<X509Certificate2?> PresentedAsync(HttpContext context)
    {
        var certificate = await context.Connection.GetClientCertificateAsync(context.RequestAborted).ConfigureAwait(false);
        if (certificate is not null || _forwardedHeader is null || !_forwardingProxies!.Contains(PeerOf(context)))
        {
            return certificate;
        }

        return ForwardedCertificate.TryParse(context.Request.Headers[_forwardedHeader].ToString());
    }

    /// <summary>
    /// The address at the other end of the connection — the proxy itself, even where forwarded-headers
    /// middleware has put the client's address (from the proxy's <c>X-Forwarded-For</c>) in
    /// <c>RemoteIpAddress</c>. Without a socket (another transport) the application's view is all there is.
    /// </summary>
    private static IPAddress? PeerOf(HttpContext context)
    {
        try
        {
            if (context.Features.Get<IConnectionSocketFeature>()?.Socket.RemoteEndPoint is IPEndPoint peer)
            {
                return peer.Address;
            }
        }
        catch (ObjectDisposedException)
        {
            // The connection is gone; nothing will be served on it anyway.
        }

        return context.Connection.RemoteIpAddress;
    }

    /// <summary>Null when <paramref name="certificate"/> is acceptable, otherwise why not (no secrets in it).</summary>
    public string? Problem(X509Certificate2? certificate)
    {
        if (certificate is null)
        {
            return "no client certificate was presented";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_trusted);
        chain.ChainPolicy.RevocationMode = _revocation;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClientAuthentication));
        if (chain.Build(certificate))
        {
            return null;
        }

        var reasons = chain.ChainStatus.Select(s => s.Status.ToString()).Distinct();
        return $"certificate {Describe(certificate)} is not trusted: {string.Join(", ", reasons)}";
    }

    /// <summary>How logs name an agent certificate: subject and SHA-256 thumbprint (never secret).</summary>
    public static string Describe(X509Certificate2 certificate) => $"'{certificate.Subject}' (SHA-256 {Thumbprint(certificate)})";

    public static string Thumbprint(X509Certificate2 certificate) => certificate.GetCertHashString(HashAlgorithmName.SHA256);

    /// <summary>
    /// Who a certificate speaks for, the same across renewals: the names its (trusted) issuer gave it —
    /// issuer, subject and DNS names — not its key or thumbprint, which a renewal changes. A certificate
    /// that carries no names at all is known by its thumbprint.
    /// </summary>
    public static string IdentityOf(X509Certificate2 certificate)
    {
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(san => san.EnumerateDnsNames())
            .Order(StringComparer.OrdinalIgnoreCase).ToList();
        return certificate.Subject.Length == 0 && names.Count == 0
            ? "sha256:" + Thumbprint(certificate)
            : $"issuer:{certificate.Issuer}|subject:{certificate.Subject}|dns:{string.Join(',', names)}";
    }

    /// <summary>Whether <paramref name="certificate"/> is one of <paramref name="identities"/> (thumbprint, subject or <c>dns:NAME</c>).</summary>
    public static bool Matches(X509Certificate2 certificate, IReadOnlyList<string> identities)
    {
        var thumbprint = Thumbprint(certificate);
        foreach (var identity in identities)
        {
            if (identity.Equals(thumbprint, StringComparison.OrdinalIgnoreCase) || identity.Equals(certificate.Subject, StringComparison.Ordinal))
            {
                return true;
            }

            if (identity.StartsWith("dns:", StringComparison.OrdinalIgnoreCase)
                && certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(san => san.EnumerateDnsNames())
                    .Any(name => name.Equals(identity[4..], StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The CA certificates in a PEM file; throws with a message naming the setting when there are none.</summary>
    public static X509Certificate2Collection LoadTrusted(string file)
    {
        var trusted = new X509Certificate2Collection();
        try
        {
            trusted.ImportFromPemFile(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new InvalidOperationException($"AgentCertificates:TrustedCaFile '{file}' cannot be read as PEM certificates: {ex.Message}", ex);
        }

        return trusted.Count > 0 ? trusted : throw new InvalidOperationException($"AgentCertificates:TrustedCaFile '{file}' holds no certificate.");
    }
}
