using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace WStunnel.Cli;

/// <summary>
/// The standalone gateway behind a reverse proxy or load balancer: <c>ForwardedHeaders:KnownProxies</c>
/// names the proxies (addresses or CIDR networks) whose <c>X-Forwarded-For</c> and
/// <c>X-Forwarded-Proto</c> are believed, so that rate limits, identities by address, the status
/// endpoints' access rule, logs and the backends' <c>X-Forwarded-For</c> see the client, not the
/// proxy. Without the setting no forwarded header is read.
/// </summary>
internal static class GatewayForwardedHeaders
{
    public const string Setting = "ForwardedHeaders:KnownProxies";

    /// <summary>The middleware's options, or null when no proxy is named; entries that are not addresses or networks fail, naming each.</summary>
    public static ForwardedHeadersOptions? Read(IConfiguration configuration)
    {
        var section = configuration.GetSection(Setting);
        var entries = section.Value is { Length: > 0 } single ? [single] : section.GetChildren().Select(child => child.Value ?? "").ToArray();
        if (entries.Length == 0)
        {
            return null;
        }

        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto,
            ForwardLimit = null, // walk back through every listed proxy (a CDN before a load balancer), stopping at the first address not listed
        };
        options.KnownProxies.Clear(); // ASP.NET Core's default trusts loopback; here only what the operator lists
        options.KnownIPNetworks.Clear();

        var failures = new List<string>();
        for (var i = 0; i < entries.Length; i++)
        {
            var entry = entries[i].Trim();
            if (entry.Contains('/', StringComparison.Ordinal) && System.Net.IPNetwork.TryParse(entry, out var network))
            {
                options.KnownIPNetworks.Add(network);
            }
            else if (!entry.Contains('/', StringComparison.Ordinal) && IPAddress.TryParse(entry, out var address))
            {
                options.KnownProxies.Add(address);
            }
            else
            {
                failures.Add($"{Setting}:{i} must be an IP address or a CIDR network such as 10.0.0.5 or 10.0.0.0/8 (got '{entries[i]}').");
            }
        }

        return failures.Count == 0 ? options : throw new OptionsValidationException(Setting, typeof(ForwardedHeadersOptions), failures);
    }
}
