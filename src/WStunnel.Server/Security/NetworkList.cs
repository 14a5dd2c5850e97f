using System.Net;

namespace WStunnel.Server.Security;

/// <summary>A list of IP addresses and CIDR networks from configuration, e.g. the proxies whose forwarded certificates are believed.</summary>
internal sealed class NetworkList(IEnumerable<string> entries)
{
    private readonly IPNetwork[] _networks = [.. entries.Select(entry => TryParse(entry, out var network) ? network : throw new FormatException($"'{entry}' is not an IP address or a CIDR network."))];

    public bool Contains(IPAddress? address)
    {
        if (address is null)
        {
            return false;
        }

        address = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        return _networks.Any(network => network.Contains(address));
    }

    /// <summary>An address (a network of one) or a CIDR network.</summary>
    public static bool TryParse(string entry, out IPNetwork network)
    {
        entry = entry.Trim();
        if (IPAddress.TryParse(entry, out var address) && !entry.Contains('/', StringComparison.Ordinal))
        {
            network = new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        return IPNetwork.TryParse(entry, out network);
    }
}
