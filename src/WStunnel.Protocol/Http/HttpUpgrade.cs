using System.Net.Http.Headers;
using WStunnel.Protocol.Frames;

namespace WStunnel.Protocol.Http;

/// <summary>
/// HTTP/1.1 upgrades (WebSockets) across the tunnel. <c>Connection</c> and <c>Upgrade</c> belong to
/// one connection and never cross as such: a request head that asks for an upgrade, and the 101
/// head that grants it, carry the protocol as an <c>Upgrade</c> entry, which each end turns back
/// into the two headers on its own connection. Only one protocol (RFC 9110 §7.8: <c>name[/version]</c>) crosses.
/// </summary>
internal static class HttpUpgrade
{
    public const string HeaderName = "Upgrade";

    /// <summary>The protocol a message asks for (or switched to): its <c>Upgrade</c> header, when <c>Connection</c> names it; otherwise null.</summary>
    public static string? Requested(HttpHeaders headers)
    {
        if (!headers.NonValidated.TryGetValues(HeaderName, out var upgrade)
            || !headers.NonValidated.TryGetValues("Connection", out var connection)
            || HopByHopHeaders.NamedInConnection(connection) is not { } named
            || !named.Contains(HeaderName))
        {
            return null;
        }

        var protocol = upgrade.ToString();
        return upgrade.Count == 1 && IsProtocol(protocol) ? protocol : null;
    }

    /// <summary>The protocol a head from the tunnel carries, or null when it carries none.</summary>
    public static string? Of(List<KeyValuePair<string, string>> headers)
    {
        foreach (var (name, value) in headers)
        {
            if (string.Equals(name, HeaderName, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }

    /// <summary>Whether <paramref name="value"/> is one protocol: a token, optionally <c>/</c> and a version token.</summary>
    public static bool IsProtocol(string value)
    {
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        return slash < 0
            ? HttpSyntax.IsToken(value)
            : HttpSyntax.IsToken(value[..slash]) && HttpSyntax.IsToken(value[(slash + 1)..]);
    }

    /// <summary>Makes a message on this end's own connection an upgrade to <paramref name="protocol"/>.</summary>
    public static void Apply(HttpHeaders headers, string protocol)
    {
        headers.TryAddWithoutValidation("Connection", HeaderName);
        headers.TryAddWithoutValidation(HeaderName, protocol);
    }
}
