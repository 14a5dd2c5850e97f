using Microsoft.Extensions.Options;
using WStunnel.Protocol.Frames;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Configuration;

/// <summary>Checks the <c>WStunnel</c> section at start-up; every message names the setting.</summary>
internal sealed class WStunnelOptionsValidator : IValidateOptions<WStunnelOptions>
{
    public ValidateOptionsResult Validate(string? name, WStunnelOptions options)
    {
        var errors = new List<string>();
        const string Section = WStunnelOptions.SectionName;

        if (options.MinimumTokenLength < 16)
        {
            errors.Add($"{Section}:MinimumTokenLength must be at least 16 (got {options.MinimumTokenLength}).");
        }

        if (string.IsNullOrWhiteSpace(options.TokenHeader) || !HttpSyntax.IsToken(options.TokenHeader))
        {
            errors.Add($"{Section}:TokenHeader must be a valid HTTP header name (got '{options.TokenHeader}').");
        }

        if (options.TargetHeader is not null && !HttpSyntax.IsToken(options.TargetHeader))
        {
            errors.Add($"{Section}:TargetHeader must be a valid HTTP header name or null (got '{options.TargetHeader}').");
        }

        if (string.IsNullOrEmpty(options.TokenPathPrefix) || options.TokenPathPrefix[0] != '/' || options.TokenPathPrefix.EndsWith('/') || options.TokenPathPrefix.Contains('{', StringComparison.Ordinal))
        {
            errors.Add($"{Section}:TokenPathPrefix must start with '/' and not end with '/' (got '{options.TokenPathPrefix}').");
        }

        for (var i = 0; i < options.HostSuffixes.Count; i++)
        {
            var suffix = options.HostSuffixes[i];
            if (string.IsNullOrWhiteSpace(suffix) || suffix.StartsWith('.') || suffix.StartsWith('*') || suffix.Contains(':', StringComparison.Ordinal) || suffix.Contains('/', StringComparison.Ordinal))
            {
                errors.Add($"{Section}:HostSuffixes:{i} must be a DNS name such as 'tunnel.example.com' (got '{suffix}').");
            }
        }

        foreach (var (tunnel, tunnelOptions) in options.Tunnels)
        {
            if (!TunnelNames.IsValid(tunnel))
            {
                errors.Add($"{Section}:Tunnels:{tunnel} is not a valid tunnel name: use letters, digits, '-' and '.', as in a DNS name.");
            }

            if (tunnelOptions.AgentIdentities.Count > 0 && !options.AgentCertificates.Required)
            {
                errors.Add($"{Section}:Tunnels:{tunnel}:AgentIdentities needs AgentCertificates:Required: identities come from client certificates.");
            }

            if (tunnelOptions.MaxAgents is < 1 or > 1000)
            {
                errors.Add($"{Section}:Tunnels:{tunnel}:MaxAgents must be between 1 and 1000 (got {tunnelOptions.MaxAgents}).");
            }

            if (!Enum.TryParse<PoolBalancing>(tunnelOptions.LoadBalancingPolicy, ignoreCase: true, out _) || int.TryParse(tunnelOptions.LoadBalancingPolicy, out _))
            {
                errors.Add($"{Section}:Tunnels:{tunnel}:LoadBalancingPolicy must be LeastRequests or RoundRobin (got '{tunnelOptions.LoadBalancingPolicy}').");
            }

            var secrets = TunnelSecretSource.CountAgentSecretSources(tunnelOptions);
            if (secrets > 1)
            {
                errors.Add($"{Section}:Tunnels:{tunnel} may set at most one of AgentSecret, AgentSecretFile or AgentSecretEnvironmentVariable (found {secrets}).");
            }
            else if (secrets == 1)
            {
                try
                {
                    if (TunnelSecretSource.ReadAgentSecret(tunnelOptions)!.Length < options.MinimumTokenLength)
                    {
                        errors.Add($"{Section}:Tunnels:{tunnel} has an agent secret shorter than {options.MinimumTokenLength} characters.");
                    }
                }
                catch (InvalidOperationException ex)
                {
                    errors.Add($"{Section}:Tunnels:{tunnel}: {ex.Message}");
                }
            }

            var sources = TunnelSecretSource.CountTokenSources(tunnelOptions);
            if (sources != 1)
            {
                errors.Add($"{Section}:Tunnels:{tunnel} must set exactly one of Token, TokenFile or TokenEnvironmentVariable (found {sources}).");
                continue;
            }

            try
            {
                var token = TunnelSecretSource.ReadToken(tunnelOptions);
                if (token.Length < options.MinimumTokenLength)
                {
                    errors.Add($"{Section}:Tunnels:{tunnel} has a token shorter than {options.MinimumTokenLength} characters.");
                }
            }
            catch (InvalidOperationException ex)
            {
                errors.Add($"{Section}:Tunnels:{tunnel}: {ex.Message}");
            }
        }

        Positive(errors, options.RequestActivityTimeout, "RequestActivityTimeout");
        if (options.RequestTimeout is { } requestTimeout)
        {
            Positive(errors, requestTimeout, "RequestTimeout");
        }

        Positive(errors, options.HandshakeTimeout, "HandshakeTimeout");
        Positive(errors, options.KeepAliveInterval, "KeepAliveInterval");
        Positive(errors, options.LongPollTimeout, "LongPollTimeout");
        if (options.KeepAliveTimeout <= options.KeepAliveInterval)
        {
            errors.Add($"{Section}:KeepAliveTimeout ({options.KeepAliveTimeout}) must be longer than KeepAliveInterval ({options.KeepAliveInterval}).");
        }

        if (options.MaxRequestBodySize is < 0)
        {
            errors.Add($"{Section}:MaxRequestBodySize must be positive or null for no limit.");
        }

        Positive(errors, options.Queue.Timeout, "Queue:Timeout");
        if (options.ResumeWindow < TimeSpan.Zero)
        {
            errors.Add($"{Section}:ResumeWindow must not be negative (got {options.ResumeWindow}).");
        }

        if (options.Queue.RetentionAfterDisconnect < TimeSpan.Zero)
        {
            errors.Add($"{Section}:Queue:RetentionAfterDisconnect must not be negative (got {options.Queue.RetentionAfterDisconnect}).");
        }

        if (options.Queue.MaxPerTunnel < 0 || options.Queue.MaxTotal < options.Queue.MaxPerTunnel)
        {
            errors.Add($"{Section}:Queue:MaxPerTunnel must be at least 0 and Queue:MaxTotal at least Queue:MaxPerTunnel.");
        }

        if (options.AgentCertificates.Required)
        {
            if (string.IsNullOrEmpty(options.AgentCertificates.TrustedCaFile))
            {
                errors.Add($"{Section}:AgentCertificates:TrustedCaFile is required when AgentCertificates:Required is set: agent certificates are trusted only from it.");
            }
            else
            {
                try
                {
                    Security.AgentCertificateValidator.LoadTrusted(options.AgentCertificates.TrustedCaFile);
                }
                catch (InvalidOperationException ex)
                {
                    errors.Add($"{Section}:{ex.Message}");
                }
            }
        }

        ValidateCertificateForwarding(options.AgentCertificates, errors);
        for (var i = 0; i < options.Status.AllowedNetworks.Count; i++)
        {
            if (!Security.NetworkList.TryParse(options.Status.AllowedNetworks[i], out _))
            {
                errors.Add($"{Section}:Status:AllowedNetworks:{i} must be an IP address or a CIDR network such as 10.0.0.0/8 (got '{options.Status.AllowedNetworks[i]}').");
            }
        }


        if (options.RateLimits.RegistrationsPerMinute < 0 || options.RateLimits.UnknownTokenRequestsPerMinute < 0)
        {
            errors.Add($"{Section}:RateLimits:RegistrationsPerMinute and RateLimits:UnknownTokenRequestsPerMinute must be 0 (off) or more.");
        }

        var limits = options.Limits;
        if (limits.MaxFramePayload is < SessionLimits.MinFramePayload or > SessionLimits.MaxFramePayloadCeiling)
        {
            errors.Add($"{Section}:Limits:MaxFramePayload must be between {SessionLimits.MinFramePayload} and {SessionLimits.MaxFramePayloadCeiling} (got {limits.MaxFramePayload}).");
        }

        if (limits.MaxHeaderBytes < 1024 || limits.MaxHeaderBytes > limits.MaxFramePayload)
        {
            errors.Add($"{Section}:Limits:MaxHeaderBytes must be between 1024 and Limits:MaxFramePayload (got {limits.MaxHeaderBytes}).");
        }

        if (limits.StreamWindow < limits.MaxFramePayload)
        {
            errors.Add($"{Section}:Limits:StreamWindow must be at least Limits:MaxFramePayload (got {limits.StreamWindow}).");
        }

        if (limits.SessionWindow < limits.StreamWindow)
        {
            errors.Add($"{Section}:Limits:SessionWindow must be at least Limits:StreamWindow (got {limits.SessionWindow}).");
        }

        if (limits.MaxReplayBytes < limits.MaxFramePayload)
        {
            errors.Add($"{Section}:Limits:MaxReplayBytes must be at least Limits:MaxFramePayload (got {limits.MaxReplayBytes}).");
        }

        if (limits.MaxTunnelsPerIdentity < 0)
        {
            errors.Add($"{Section}:Limits:MaxTunnelsPerIdentity must be 0 (no cap) or more (got {limits.MaxTunnelsPerIdentity}).");
        }

        if (limits.MaxTunnels < 1)
        {
            errors.Add($"{Section}:Limits:MaxTunnels must be at least 1 (got {limits.MaxTunnels}).");
        }

        if (limits.MaxConcurrentStreams < 1)
        {
            errors.Add($"{Section}:Limits:MaxConcurrentStreams must be at least 1 (got {limits.MaxConcurrentStreams}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Positive(List<string> errors, TimeSpan value, string setting)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{WStunnelOptions.SectionName}:{setting} must be a positive duration (got {value}).");
        }
    }

    private static void ValidateCertificateForwarding(WStunnelAgentCertificateOptions certificates, List<string> errors)
    {
        const string Section = WStunnelOptions.SectionName + ":AgentCertificates";
        if (certificates.ForwardedHeader is null)
        {
            if (certificates.ForwardingProxies.Count > 0)
            {
                errors.Add($"{Section}:ForwardingProxies is set but ForwardedHeader is not: name the header the proxies pass the certificate in.");
            }

            return;
        }

        if (!certificates.Required)
        {
            errors.Add($"{Section}:ForwardedHeader needs AgentCertificates:Required: a forwarded certificate is judged like any other.");
        }

        if (!HttpSyntax.IsToken(certificates.ForwardedHeader))
        {
            errors.Add($"{Section}:ForwardedHeader must be a valid HTTP header name (got '{certificates.ForwardedHeader}').");
        }

        if (certificates.ForwardingProxies.Count == 0)
        {
            errors.Add($"{Section}:ForwardingProxies must list the proxies allowed to forward certificates (IP addresses or CIDR networks) when ForwardedHeader is set; otherwise anyone could send the header.");
        }

        for (var i = 0; i < certificates.ForwardingProxies.Count; i++)
        {
            if (!Security.NetworkList.TryParse(certificates.ForwardingProxies[i], out _))
            {
                errors.Add($"{Section}:ForwardingProxies:{i} must be an IP address or a CIDR network such as 10.0.0.0/8 (got '{certificates.ForwardingProxies[i]}').");
            }
        }
    }
}
