using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using WStunnel.Agent.Security;

namespace WStunnel.Agent.Tests.Security;

public sealed class ServerCertificateValidatorTests
{
    [Fact]
    public void A_certificate_from_the_private_CA_is_accepted_despite_an_untrusted_chain()
    {
        using var ca = CreateCa("CN=Private CA");
        using var leaf = CreateLeaf(ca, "localhost");
        var validator = new ServerCertificateValidator([ca]);
        Assert.True(validator.Validate(leaf, null, SslPolicyErrors.RemoteCertificateChainErrors, out var rejection));
        Assert.Null(rejection);
    }

    [Fact]
    public void A_certificate_from_another_CA_is_refused_naming_the_chain_status_and_the_certificate()
    {
        using var ca = CreateCa("CN=Private CA");
        using var other = CreateCa("CN=Someone else");
        using var leaf = CreateLeaf(other, "localhost");
        var validator = new ServerCertificateValidator([ca]);
        Assert.False(validator.Validate(leaf, null, SslPolicyErrors.RemoteCertificateChainErrors, out var rejection));
        Assert.Contains("nor to the CA in CaCertificateFile (PartialChain", rejection, StringComparison.Ordinal);
        Assert.Contains("issuer CN=Someone else", rejection, StringComparison.Ordinal);
        Assert.Contains(leaf.GetCertHashString(HashAlgorithmName.SHA256), rejection, StringComparison.Ordinal);
    }

    [Fact]
    public void A_name_mismatch_is_refused_even_from_the_private_CA_naming_the_certificate_s_names()
    {
        using var ca = CreateCa("CN=Private CA");
        using var leaf = CreateLeaf(ca, "elsewhere.example.com");
        var validator = new ServerCertificateValidator([ca]);
        Assert.False(validator.Validate(leaf, null, SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch, out var rejection));
        Assert.Contains("not issued for the host the agent connected to (RemoteCertificateNameMismatch; it names elsewhere.example.com, 127.0.0.1)", rejection, StringComparison.Ordinal);
        Assert.DoesNotContain("CaCertificateFile", rejection, StringComparison.Ordinal); // its chain is fine
    }

    [Fact]
    public void No_certificate_at_all_is_refused()
    {
        var validator = new ServerCertificateValidator(null);
        Assert.False(validator.Validate(null, null, SslPolicyErrors.RemoteCertificateNotAvailable, out var rejection));
        Assert.Equal("the server presented no certificate", rejection);
    }

    [Fact]
    public void Without_a_private_CA_only_the_system_verdict_counts()
    {
        using var ca = CreateCa("CN=Private CA");
        using var leaf = CreateLeaf(ca, "localhost");
        var validator = new ServerCertificateValidator(null);
        Assert.False(validator.Validate(leaf, null, SslPolicyErrors.RemoteCertificateChainErrors, out var rejection));
        Assert.Contains("does not lead to a root this machine trusts", rejection, StringComparison.Ordinal);
        Assert.True(validator.Validate(leaf, null, SslPolicyErrors.None, out _));
    }

    [Fact]
    public void A_CA_file_without_certificates_is_a_clear_error()
    {
        var file = Path.GetTempFileName();
        try
        {
            var error = Assert.Throws<InvalidOperationException>(() => ServerCertificateValidator.FromFile(file));
            Assert.Contains("contains no PEM certificate", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static X509Certificate2 CreateCa(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    private static X509Certificate2 CreateLeaf(X509Certificate2 ca, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        // The CA's own validity, read back from it: a fresh clock reading could fall a second past its
        // NotAfter, which certificates store in whole seconds.
        return request.Create(ca, ca.NotBefore, ca.NotAfter, RandomNumberGenerator.GetBytes(8));
    }
}
