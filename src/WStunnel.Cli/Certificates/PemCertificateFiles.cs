using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace WStunnel.Cli.Certificates;

/// <summary>
/// A PEM certificate file (the certificate first, then any intermediates, as Let's Encrypt's
/// <c>fullchain.pem</c>) and its PEM private key, as <c>--cert</c> and <c>--cert-key</c> name them.
/// </summary>
internal sealed class PemCertificateFiles(string certificateFile, string keyFile)
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");

    public string CertificateFile { get; } = certificateFile;

    public string KeyFile { get; } = keyFile;

    /// <summary>Both files as they are now, with a fingerprint of their bytes to notice a change.</summary>
    public Contents Read()
    {
        try
        {
            var certificate = File.ReadAllBytes(CertificateFile);
            var key = File.ReadAllBytes(KeyFile);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hash.AppendData(certificate);
            hash.AppendData(key);
            return new Contents(certificate, key, Convert.ToHexString(hash.GetHashAndReset()));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CertificateFileException($"cannot read '{CertificateFile}' and '{KeyFile}': {ex.Message}", ex);
        }
    }

    /// <summary>
    /// The certificate with its key and the intermediates that follow it, ready for TLS; a clear
    /// <see cref="CertificateFileException"/> when the files do not make a usable server certificate.
    /// </summary>
    public SslStreamCertificateContext Load(Contents contents)
    {
        ArgumentNullException.ThrowIfNull(contents);
        X509Certificate2 certificate;
        var chain = new X509Certificate2Collection();
        try
        {
            var pem = System.Text.Encoding.ASCII.GetString(contents.Certificate);
            certificate = X509Certificate2.CreateFromPem(pem, System.Text.Encoding.ASCII.GetString(contents.Key));
            chain.ImportFromPem(pem);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException) // ArgumentException: a key of another certificate
        {
            throw new CertificateFileException($"'{CertificateFile}' with the key '{KeyFile}' is not a PEM certificate and its private key: {ex.Message}", ex);
        }

        // The collection holds every certificate in the file: the intermediates are the rest.
        foreach (var copy in chain.Where(c => c.RawDataMemory.Span.SequenceEqual(certificate.RawDataMemory.Span)).ToList())
        {
            chain.Remove(copy);
            copy.Dispose();
        }

        if (certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } usages
            && !usages.EnhancedKeyUsages.Cast<Oid>().Any(usage => usage.Value == ServerAuthentication.Value))
        {
            var problem = $"'{CertificateFile}' is not meant for servers (its extended key usage lacks server authentication); subject {certificate.Subject}";
            certificate.Dispose();
            throw new CertificateFileException(problem);
        }

        return SslStreamCertificateContext.Create(certificate, chain);
    }

    /// <summary>Why <paramref name="certificate"/> is not valid at <paramref name="now"/>, or null when it is.</summary>
    public static string? NotValidAt(X509Certificate2 certificate, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var (from, to) = (certificate.NotBefore.ToUniversalTime(), certificate.NotAfter.ToUniversalTime());
        return from <= now.UtcDateTime && now.UtcDateTime < to
            ? null
            : $"subject {certificate.Subject} is valid from {from:u} to {to:u}, not now ({now.UtcDateTime:u})";
    }

    /// <summary>The bytes of both files at one moment, and their fingerprint.</summary>
    internal sealed record Contents(byte[] Certificate, byte[] Key, string Fingerprint);
}

/// <summary>Certificate files that cannot serve TLS; the message names the files and what is wrong.</summary>
internal sealed class CertificateFileException(string message, Exception? inner = null) : Exception(message, inner);
