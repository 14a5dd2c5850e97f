using WStunnel.Server.Configuration;

namespace WStunnel.Server.Tests.Configuration;

public sealed class WStunnelOptionsValidatorTests
{
    private static IEnumerable<string> Failures(WStunnelOptions options) =>
        new WStunnelOptionsValidator().Validate(null, options).Failures ?? [];

    [Fact]
    public void Defaults_are_valid() => Assert.Empty(Failures(new WStunnelOptions()));

    [Fact]
    public void Each_bad_setting_is_named_in_its_message()
    {
        var options = new WStunnelOptions
        {
            MinimumTokenLength = 8,
            TokenHeader = "bad header",
            TokenPathPrefix = "_token/",
            KeepAliveTimeout = TimeSpan.FromSeconds(1),
            RequestTimeout = TimeSpan.Zero,
            Limits = { MaxHeaderBytes = 10, MaxReplayBytes = 100 },
        };
        options.HostSuffixes.Add("*.wild.example.com");
        var failures = string.Join("\n", Failures(options));
        Assert.Contains("WStunnel:MinimumTokenLength", failures, StringComparison.Ordinal);
        Assert.Contains("WStunnel:TokenHeader", failures, StringComparison.Ordinal);
        Assert.Contains("WStunnel:TokenPathPrefix", failures, StringComparison.Ordinal);
        Assert.Contains("WStunnel:KeepAliveTimeout", failures, StringComparison.Ordinal);
        Assert.Contains("WStunnel:HostSuffixes:0", failures, StringComparison.Ordinal);
        Assert.Contains("WStunnel:Limits:MaxHeaderBytes", failures, StringComparison.Ordinal);
        Assert.Contains("WStunnel:RequestTimeout", failures, StringComparison.Ordinal);
        Assert.Contains("WStunnel:Limits:MaxReplayBytes", failures, StringComparison.Ordinal);
    }

    [Fact]
    public void A_named_tunnel_needs_exactly_one_readable_token_source()
    {
        var options = new WStunnelOptions();
        options.Tunnels["none"] = new WStunnelTunnelOptions();
        options.Tunnels["two"] = new WStunnelTunnelOptions { Token = "0123456789abcdef", TokenFile = "/x" };
        options.Tunnels["missing-file"] = new WStunnelTunnelOptions { TokenFile = "/nonexistent/token" };
        options.Tunnels["missing-env"] = new WStunnelTunnelOptions { TokenEnvironmentVariable = "WSTUNNEL_TEST_UNSET_VARIABLE" };
        options.Tunnels["short"] = new WStunnelTunnelOptions { Token = "short-secret" };
        options.Tunnels["bad/name"] = new WStunnelTunnelOptions { Token = "0123456789abcdef" };
        var failures = Failures(options).ToList();
        Assert.Contains(failures, f => f.Contains("Tunnels:none must set exactly one", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Tunnels:two must set exactly one", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Tunnels:missing-file", StringComparison.Ordinal) && f.Contains("cannot be read", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Tunnels:missing-env", StringComparison.Ordinal) && f.Contains("not set", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Tunnels:short has a token shorter", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Tunnels:bad/name is not a valid tunnel name", StringComparison.Ordinal));
        Assert.DoesNotContain(failures, f => f.Contains("short-secret", StringComparison.Ordinal));
    }

    [Fact]
    public void A_named_tunnels_agent_secret_is_checked_and_never_echoed()
    {
        var options = new WStunnelOptions();
        options.Tunnels["two"] = new WStunnelTunnelOptions { Token = "0123456789abcdef", AgentSecret = "secret-one-0123456789", AgentSecretFile = "/x" };
        options.Tunnels["missing"] = new WStunnelTunnelOptions { Token = "0123456789abcdeg", AgentSecretFile = "/nonexistent/secret" };
        options.Tunnels["short"] = new WStunnelTunnelOptions { Token = "0123456789abcdeh", AgentSecret = "tiny-secret" };
        options.Tunnels["fine"] = new WStunnelTunnelOptions { Token = "0123456789abcdei", AgentSecret = "a-long-enough-agent-secret" };
        var failures = Failures(options).ToList();
        Assert.Contains(failures, f => f.Contains("Tunnels:two may set at most one of AgentSecret", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Tunnels:missing: AgentSecretFile '/nonexistent/secret' cannot be read", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Tunnels:short has an agent secret shorter", StringComparison.Ordinal));
        Assert.DoesNotContain(failures, f => f.Contains("Tunnels:fine", StringComparison.Ordinal));
        Assert.DoesNotContain(failures, f => f.Contains("tiny-secret", StringComparison.Ordinal) || f.Contains("secret-one", StringComparison.Ordinal));
    }

    [Fact]
    public void Required_agent_certificates_need_a_readable_trusted_CA_file()
    {
        var without = new WStunnelOptions { AgentCertificates = { Required = true } };
        Assert.Contains(Failures(without), f => f.Contains("WStunnel:AgentCertificates:TrustedCaFile is required", StringComparison.Ordinal));

        var missing = new WStunnelOptions { AgentCertificates = { Required = true, TrustedCaFile = "/nonexistent/ca.pem" } };
        Assert.Contains(Failures(missing), f => f.Contains("WStunnel:AgentCertificates:TrustedCaFile '/nonexistent/ca.pem' cannot be read", StringComparison.Ordinal));

        var empty = Path.GetTempFileName();
        try
        {
            var notPem = new WStunnelOptions { AgentCertificates = { Required = true, TrustedCaFile = empty } };
            Assert.Contains(Failures(notPem), f => f.Contains("holds no certificate", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(empty);
        }
    }

    [Fact]
    public void Agent_identities_need_agent_certificates()
    {
        var options = new WStunnelOptions();
        options.Tunnels["bound"] = new WStunnelTunnelOptions { Token = "0123456789abcdef", AgentIdentities = { "CN=agent" } };
        Assert.Contains(Failures(options), f => f.Contains("WStunnel:Tunnels:bound:AgentIdentities needs AgentCertificates:Required", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0, "LeastRequests", "WStunnel:Tunnels:pool:MaxAgents must be between 1 and 1000 (got 0)")]
    [InlineData(2, "Random", "WStunnel:Tunnels:pool:LoadBalancingPolicy must be LeastRequests or RoundRobin (got 'Random')")]
    [InlineData(2, "1", "WStunnel:Tunnels:pool:LoadBalancingPolicy must be LeastRequests or RoundRobin (got '1')")]
    public void A_pool_needs_a_sane_size_and_a_known_policy(int maxAgents, string policy, string expected)
    {
        var options = new WStunnelOptions { Limits = { MaxTunnelsPerIdentity = -1 } };
        options.Tunnels["pool"] = new WStunnelTunnelOptions { Token = "0123456789abcdef", MaxAgents = maxAgents, LoadBalancingPolicy = policy };
        var failures = Failures(options).ToList();
        Assert.Contains(failures, f => f.Contains(expected, StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("WStunnel:Limits:MaxTunnelsPerIdentity", StringComparison.Ordinal));
    }

    [Fact]
    public void Certificate_forwarding_needs_a_list_of_proxies_and_required_certificates()
    {
        var options = new WStunnelOptions { AgentCertificates = { ForwardedHeader = "X-Client-Cert" } };
        var failures = string.Join("\n", Failures(options));
        Assert.Contains("WStunnel:AgentCertificates:ForwardingProxies must list the proxies", failures, StringComparison.Ordinal);
        Assert.Contains("WStunnel:AgentCertificates:ForwardedHeader needs AgentCertificates:Required", failures, StringComparison.Ordinal);

        options.AgentCertificates.ForwardingProxies.Add("proxy.example.com");
        Assert.Contains(Failures(options), f => f.Contains("WStunnel:AgentCertificates:ForwardingProxies:0 must be an IP address", StringComparison.Ordinal));
    }

    [Fact]
    public void A_token_file_is_read_and_trimmed()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, "  file-token-0123456789\n");
        try
        {
            Assert.Equal("file-token-0123456789", TunnelSecretSource.ReadToken(new WStunnelTunnelOptions { TokenFile = file }));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
