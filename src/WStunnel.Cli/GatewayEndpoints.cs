using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace WStunnel.Cli;

/// <summary>
/// Binds the gateway's <c>--urls</c> itself rather than leaving them to Kestrel, so that each HTTPS
/// endpoint takes agents directly (<c>UseWStunnelAgents</c> right after <c>UseHttps</c>, a place
/// Kestrel's own binding of URLs offers no hook for). Addresses are read as Kestrel reads them.
/// </summary>
internal static class GatewayEndpoints
{
    public static void Listen(KestrelServerOptions kestrel, string urls)
    {
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var address = BindingAddress.Parse(url);
            var https = string.Equals(address.Scheme, "https", StringComparison.OrdinalIgnoreCase);
            if (!https && !string.Equals(address.Scheme, "http", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"Unrecognized scheme in server address '{url}'. Only 'http://' and 'https://' are supported.");
            }

            if (address.PathBase is not ("" or "/"))
            {
                throw new InvalidOperationException($"A path base can only be configured using IApplicationBuilder.UsePathBase(); '{url}' has one.");
            }

            Action<ListenOptions> configure = https ? static listen => listen.UseHttps().UseWStunnelAgents() : static _ => { };
            var host = address.Host.Trim('[', ']');
            if (address.IsUnixPipe)
            {
                kestrel.ListenUnixSocket(address.UnixPipePath, configure);
            }
            else if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                kestrel.ListenLocalhost(address.Port, configure);
            }
            else if (IPAddress.TryParse(host, out var ip))
            {
                kestrel.Listen(ip, address.Port, configure);
            }
            else
            {
                kestrel.ListenAnyIP(address.Port, configure); // "*", "+" and host names: every interface, as Kestrel does
            }
        }
    }

    /// <summary><paramref name="args"/> without <c>--urls</c> (any of the command line's spellings of it).</summary>
    public static string[] WithoutUrls(string[] args)
    {
        var kept = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i].TrimStart('-', '/');
            if (name.Equals("urls", StringComparison.OrdinalIgnoreCase) && args[i] != name)
            {
                i++; // its value
            }
            else if (!(name.StartsWith("urls=", StringComparison.OrdinalIgnoreCase) && args[i] != name))
            {
                kept.Add(args[i]);
            }
        }

        return [.. kept];
    }
}
