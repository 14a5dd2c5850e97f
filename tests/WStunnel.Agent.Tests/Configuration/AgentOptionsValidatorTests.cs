using WStunnel.Agent.Configuration;

namespace WStunnel.Agent.Tests.Configuration;

public sealed class AgentOptionsValidatorTests
{
    private static string Failures(WStunnelAgentOptions options) =>
        string.Join("\n", new AgentOptionsValidator().Validate(null, options).Failures ?? []);

    [Fact]
    public void A_complete_configuration_is_valid() =>
        Assert.Empty(Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw.example.com"), Token = "0123456789abcdef" }));

    [Fact]
    public void Missing_server_and_token_are_named()
    {
        var failures = Failures(new WStunnelAgentOptions());
        Assert.Contains("WStunnelAgent:Server is required", failures, StringComparison.Ordinal);
        Assert.Contains("set exactly one of Token or TokenFile", failures, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unencrypted_server_needs_an_explicit_opt_out()
    {
        Assert.Contains("not encrypted", Failures(new WStunnelAgentOptions { Server = new Uri("ws://gw.example.com"), Token = "0123456789abcdef" }), StringComparison.Ordinal);
        Assert.Empty(Failures(new WStunnelAgentOptions { Server = new Uri("ws://gw.example.com"), Token = "0123456789abcdef", Insecure = true }));
    }

    [Theory]
    [InlineData("http://printer.lan:8080/admin")]
    [InlineData("ftp://files.lan")]
    [InlineData("http://user:pass@printer.lan")]
    [InlineData("unix:/run/app.sock")] // X-Host names origins; only the main target may be a socket
    public void An_allowed_target_must_be_an_exact_http_origin(string allowed)
    {
        var options = new WStunnelAgentOptions { Server = new Uri("wss://gw.example.com"), Token = "0123456789abcdef" };
        options.AllowedTargets.Add(new Uri("http://fine.lan:8080"));
        options.AllowedTargets.Add(new Uri(allowed));
        Assert.Contains("WStunnelAgent:AllowedTargets:1 must be an origin", Failures(options), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://localhost:8080/app", "Target must be an origin")]
    [InlineData("ftp://localhost", "Target must be an origin")]
    [InlineData("http://user:pass@localhost", "Target must be an origin")]
    [InlineData("unix:run/app.sock", "or a Unix socket such as unix:/run/app.sock")]
    [InlineData("unix:/run/", "or a Unix socket such as unix:/run/app.sock")]
    [InlineData("unix://host/run/app.sock", "or a Unix socket such as unix:/run/app.sock")]
    [InlineData("unix:/run/app.sock?x=1", "or a Unix socket such as unix:/run/app.sock")]
    public void A_target_must_be_an_http_origin_or_a_unix_socket_path(string target, string message) =>
        Assert.Contains(message, Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw"), Token = "0123456789abcdef", Target = new Uri(target) }), StringComparison.Ordinal);

    [Theory]
    [InlineData("unix:/run/app.sock")]
    [InlineData("unix:///run/app.sock")]
    [InlineData("https://localhost:8443")]
    public void A_target_may_be_an_origin_or_a_unix_socket(string target)
    {
        var options = new WStunnelAgentOptions { Server = new Uri("wss://gw"), Token = "0123456789abcdef", Target = new Uri(target) };
        options.AllowedTargets.Add(new Uri("http://printer.lan:8080"));
        Assert.Empty(Failures(options));
    }

    [Fact]
    public void A_short_token_is_refused_without_echoing_it()
    {
        var failures = Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw"), Token = "tiny-secret" });
        Assert.Contains("at least 16 characters", failures, StringComparison.Ordinal);
        Assert.DoesNotContain("tiny-secret", failures, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unreadable_token_file_is_named()
    {
        var failures = Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw"), TokenFile = "/nonexistent/token" });
        Assert.Contains("TokenFile '/nonexistent/token' cannot be read", failures, StringComparison.Ordinal);
    }

    [Fact]
    public void A_replay_buffer_too_small_for_one_frame_is_named() =>
        Assert.Contains("WStunnelAgent:MaxReplayBytes must be at least 65536",
            Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw"), Token = "0123456789abcdef", MaxReplayBytes = 1000 }), StringComparison.Ordinal);

    [Fact]
    public void The_agent_secret_comes_from_one_place_that_can_be_read()
    {
        var both = Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw"), Token = "0123456789abcdef", Secret = "s-0123456789abcdef", SecretFile = "/x" });
        Assert.Contains("set at most one of Secret or SecretFile", both, StringComparison.Ordinal);
        Assert.DoesNotContain("s-0123456789abcdef", both, StringComparison.Ordinal);

        var missing = Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw"), Token = "0123456789abcdef", SecretFile = "/nonexistent/secret" });
        Assert.Contains("SecretFile '/nonexistent/secret' cannot be read", missing, StringComparison.Ordinal);
    }

    [Fact]
    public void A_CA_for_targets_must_exist_hold_certificates_and_not_come_with_InsecureTarget()
    {
        var missing = Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw"), Token = "0123456789abcdef", TargetCaCertificateFile = "/nonexistent/ca.pem" });
        Assert.Contains("WStunnelAgent:TargetCaCertificateFile '/nonexistent/ca.pem' does not exist.", missing, StringComparison.Ordinal);

        var empty = Path.GetTempFileName();
        try
        {
            var noCertificates = Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw"), Token = "0123456789abcdef", TargetCaCertificateFile = empty });
            Assert.Contains($"WStunnelAgent:TargetCaCertificateFile '{empty}' contains no PEM certificate.", noCertificates, StringComparison.Ordinal);

            var both = Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw"), Token = "0123456789abcdef", TargetCaCertificateFile = empty, InsecureTarget = true });
            Assert.Contains("TargetCaCertificateFile is set together with InsecureTarget", both, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(empty);
        }
    }

    [Fact]
    public void A_client_certificate_must_load_with_its_private_key()
    {
        var keyOnly = Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw"), Token = "0123456789abcdef", ClientKeyFile = "/x.key" });
        Assert.Contains("ClientKeyFile is set without ClientCertificateFile", keyOnly, StringComparison.Ordinal);

        var missing = Failures(new WStunnelAgentOptions { Server = new Uri("wss://gw"), Token = "0123456789abcdef", ClientCertificateFile = "/nonexistent/agent.pem", ClientKeyFile = "/nonexistent/agent.key" });
        Assert.Contains("ClientCertificateFile '/nonexistent/agent.pem' cannot be read", missing, StringComparison.Ordinal);
    }
}
