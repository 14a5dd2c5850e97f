using WStunnel.Agent.Configuration;

namespace WStunnel.Agent.Tests.Configuration;

public sealed class AgentCredentialsTests : IDisposable
{
    private const string OldToken = "old-token-0123456789abcdef";
    private const string NewToken = "new-token-0123456789abcdef";
    private readonly string _directory = Directory.CreateTempSubdirectory("wstunnel-credentials-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Refresh_TokenFileRewritten_AnnouncesTheNewTokenAndLogsOnlyFingerprints()
    {
        var (options, tokenFile, _) = FromFiles(OldToken, secret: null);
        var log = new RecordingLogger();
        var credentials = new AgentCredentials(options, log);
        var before = credentials.Current.Fingerprint;

        File.WriteAllText(tokenFile, NewToken + "\n");

        Assert.Equal(CredentialChange.Token, credentials.Refresh());
        Assert.Equal(NewToken, credentials.Current.Token);
        Assert.NotEqual(before, credentials.Current.Fingerprint);
        Assert.Contains(log.Lines, line => line.Contains(credentials.Current.Fingerprint, StringComparison.Ordinal) && line.Contains(before, StringComparison.Ordinal));
        Assert.DoesNotContain(log.Lines, line => line.Contains(NewToken, StringComparison.Ordinal) || line.Contains(OldToken, StringComparison.Ordinal));
        Assert.Equal(CredentialChange.None, credentials.Refresh()); // nothing changed since
    }

    [Fact]
    public void Refresh_SecretFileRewritten_PresentsTheNewSecretForTheSameToken()
    {
        var (options, _, secretFile) = FromFiles(OldToken, secret: "old-secret-0123456789");
        var log = new RecordingLogger();
        var credentials = new AgentCredentials(options, log);

        File.WriteAllText(secretFile!, "new-secret-0123456789");

        Assert.Equal(CredentialChange.Secret, credentials.Refresh()); // the token, and so the tunnel, stays
        Assert.Equal("new-secret-0123456789", credentials.Current.Secret);
        Assert.Equal(OldToken, credentials.Current.Token);
        Assert.DoesNotContain(log.Lines, line => line.Contains("secret-0123456789", StringComparison.Ordinal));
        Assert.Single(log.Lines, line => line.StartsWith("Agent secret changed", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("short")]
    public void Refresh_UnusableTokenFile_KeepsTheCurrentTokenWithOneWarning(string content)
    {
        var (options, tokenFile, _) = FromFiles(OldToken, secret: null);
        var log = new RecordingLogger();
        var credentials = new AgentCredentials(options, log);

        File.WriteAllText(tokenFile, content);

        Assert.Equal(CredentialChange.None, credentials.Refresh());
        Assert.Equal(CredentialChange.None, credentials.Refresh());
        Assert.Equal(OldToken, credentials.Current.Token);
        Assert.Single(log.Lines, line => line.StartsWith("Token or secret not reloaded", StringComparison.Ordinal) && line.Contains(tokenFile, StringComparison.Ordinal));

        File.WriteAllText(tokenFile, NewToken);
        Assert.Equal(CredentialChange.Token, credentials.Refresh());
        Assert.Equal(NewToken, credentials.Current.Token);
    }

    [Fact]
    public void Refresh_MissingSecretFile_KeepsBothAndSaysWhy()
    {
        var (options, _, secretFile) = FromFiles(OldToken, secret: "old-secret-0123456789");
        var log = new RecordingLogger();
        var credentials = new AgentCredentials(options, log);

        File.Delete(secretFile!);

        Assert.Equal(CredentialChange.None, credentials.Refresh());
        Assert.Equal("old-secret-0123456789", credentials.Current.Secret);
        Assert.Single(log.Lines, line => line.Contains("SecretFile", StringComparison.Ordinal) && line.Contains("cannot be read", StringComparison.Ordinal));
    }

    [Fact]
    public void Refresh_TokenGivenAsValue_ReadsNothing()
    {
        var options = new WStunnelAgentOptions { Token = OldToken, Secret = "old-secret-0123456789" };
        var log = new RecordingLogger();
        var credentials = new AgentCredentials(options, log);

        Assert.Equal(CredentialChange.None, credentials.Refresh());
        Assert.Equal(OldToken, credentials.Current.Token);
        Assert.Empty(log.Lines);
    }

    private (WStunnelAgentOptions Options, string TokenFile, string? SecretFile) FromFiles(string token, string? secret)
    {
        var tokenFile = Path.Combine(_directory, "token");
        File.WriteAllText(tokenFile, token + "\n");
        string? secretFile = null;
        if (secret is not null)
        {
            secretFile = Path.Combine(_directory, "secret");
            File.WriteAllText(secretFile, secret);
        }

        return (new WStunnelAgentOptions { TokenFile = tokenFile, SecretFile = secretFile }, tokenFile, secretFile);
    }
}
