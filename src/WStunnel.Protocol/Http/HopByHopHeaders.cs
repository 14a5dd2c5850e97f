using System.Collections.Frozen;

namespace WStunnel.Protocol.Http;

/// <summary>
/// Connection-specific headers (RFC 9110 §7.6.1) never cross the tunnel: the fixed hop-by-hop set
/// and every header the message itself names in <c>Connection</c>.
/// </summary>
internal static class HopByHopHeaders
{
    private static readonly FrozenSet<string> Fixed = FrozenSet.Create(StringComparer.OrdinalIgnoreCase,
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
        "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Host");

    /// <summary>Collects the header names listed in the values of <c>Connection</c> headers.</summary>
    public static HashSet<string>? NamedInConnection(IEnumerable<string> connectionValues)
    {
        HashSet<string>? names = null;
        foreach (var value in connectionValues)
        {
            foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                (names ??= new HashSet<string>(StringComparer.OrdinalIgnoreCase)).Add(part);
            }
        }

        return names;
    }

    public static bool ShouldDrop(string name, HashSet<string>? namedInConnection) =>
        Fixed.Contains(name) || (namedInConnection is not null && namedInConnection.Contains(name));
}
