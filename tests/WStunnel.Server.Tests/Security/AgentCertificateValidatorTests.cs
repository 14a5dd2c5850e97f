using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using WStunnel.Server.Security;

namespace WStunnel.Server.Tests.Security;

public sealed class AgentCertificateValidatorTests
{
    [Fact]
    public void IdentityOf_a_renewed_certificate_is_the_same_though_its_key_and_thumbprint_change()
    {
        using var issuer = Authority("CN=Agents CA");
        using var original = Issue(issuer, "CN=build-agent", "build.example.com");
        using var renewed = Issue(issuer, "CN=build-agent", "build.example.com");

        Assert.NotEqual(AgentCertificateValidator.Thumbprint(original), AgentCertificateValidator.Thumbprint(renewed));
        Assert.Equal(AgentCertificateValidator.IdentityOf(original), AgentCertificateValidator.IdentityOf(renewed));
    }

    [Fact]
    public void IdentityOf_differs_with_the_subject_the_DNS_names_or_the_issuer()
    {
        using var issuer = Authority("CN=Agents CA");
        using var other = Authority("CN=Another CA");
        using var agent = Issue(issuer, "CN=build-agent", "build.example.com");
        using var otherSubject = Issue(issuer, "CN=test-agent", "build.example.com");
        using var otherName = Issue(issuer, "CN=build-agent", "test.example.com");
        using var otherIssuer = Issue(other, "CN=build-agent", "build.example.com");
        var identity = AgentCertificateValidator.IdentityOf(agent);

        Assert.NotEqual(identity, AgentCertificateValidator.IdentityOf(otherSubject));
        Assert.NotEqual(identity, AgentCertificateValidator.IdentityOf(otherName));
        Assert.NotEqual(identity, AgentCertificateValidator.IdentityOf(otherIssuer));
    }

    [Fact]
    public void IdentityOf_a_certificate_without_names_is_its_thumbprint()
    {
        using var issuer = Authority("CN=Agents CA");
        using var nameless = Issue(issuer, "", dnsName: null);

        Assert.Equal("sha256:" + AgentCertificateValidator.Thumbprint(nameless), AgentCertificateValidator.IdentityOf(nameless));
    }

    private static X509Certificate2 Authority(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    private static X509Certificate2 Issue(X509Certificate2 issuer, string subject, string? dnsName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (dnsName is not null)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName(dnsName);
            request.CertificateExtensions.Add(names.Build());
        }

        return request.Create(issuer, issuer.NotBefore, issuer.NotAfter, RandomNumberGenerator.GetBytes(8));
    }
}
