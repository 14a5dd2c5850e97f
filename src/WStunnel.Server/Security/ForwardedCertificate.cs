using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace WStunnel.Server.Security;

/// <summary>Reads a client certificate as TLS-terminating proxies pass it on in a request header.</summary>
internal static class ForwardedCertificate
{
    /// <summary>
    /// URL-encoded or plain PEM, base64 DER, or RFC 9440's <c>:base64:</c>; null for anything else,
    /// which the gateway then treats as no certificate at all.
    /// </summary>
    public static X509Certificate2? TryParse(string value)
    {
        value = value.Trim();
        if (value.Length == 0)
        {
            return null;
        }

        try
        {
            if (value.Contains("BEGIN", StringComparison.Ordinal))
            {
                return X509Certificate2.CreateFromPem(Uri.UnescapeDataString(value));
            }

            var base64 = value.Length > 2 && value[0] == ':' && value[^1] == ':' ? value[1..^1] : value;
            return X509CertificateLoader.LoadCertificate(Convert.FromBase64String(base64));
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException or ArgumentException)
        {
            return null;
        }
    }
}
