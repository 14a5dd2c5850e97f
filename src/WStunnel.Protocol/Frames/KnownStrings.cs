using System.Collections.Frozen;
using System.Text;

namespace WStunnel.Protocol.Frames;

/// <summary>
/// Methods and header names that nearly every head carries, decoded to one shared string each
/// instead of a new one per request: the strings of a head are most of what decoding allocates.
/// </summary>
internal static class KnownStrings
{
    private const int LongestKnown = 32;

    private static readonly string[] Canonical =
    [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
        "Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges", "Age", "Allow", "Authorization",
        "Cache-Control", "Connection", "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
        "Content-Location", "Content-Range", "Content-Security-Policy", "Content-Type", "Cookie", "Date", "ETag", "Expect",
        "Expires", "Forwarded", "Host", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
        "Keep-Alive", "Last-Modified", "Link", "Location", "Origin", "Pragma", "Priority", "Range", "Referer",
        "Referrer-Policy", "Request-Id", "Retry-After", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User",
        "Server", "Set-Cookie", "Strict-Transport-Security", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
        "Upgrade-Insecure-Requests", "User-Agent", "Vary", "Via", "WWW-Authenticate", "X-Content-Type-Options",
        "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Prefix", "X-Forwarded-Proto", "X-Frame-Options",
        "X-Powered-By", "X-Real-IP", "X-Request-ID", "X-Requested-With", "baggage", "traceparent", "tracestate",
    ];

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> Lookup =
        Canonical.Concat(Canonical.Select(s => s.ToLowerInvariant())).ToFrozenSet(StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>The shared string equal to these UTF-8 bytes, or null when they are not a known one.</summary>
    public static string? Find(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length is 0 or > LongestKnown || !Ascii.IsValid(utf8))
        {
            return null;
        }

        Span<char> chars = stackalloc char[utf8.Length];
        Ascii.ToUtf16(utf8, chars, out _);
        return Lookup.TryGetValue(chars, out var known) ? known : null;
    }
}
