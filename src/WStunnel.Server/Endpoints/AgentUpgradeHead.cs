using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using WStunnel.Protocol.Transports;

namespace WStunnel.Server.Endpoints;

/// <summary>What the first bytes of a connection say about it.</summary>
internal enum UpgradeHeadOutcome
{
    /// <summary>Not an agent's WebSocket upgrade this class reads in full: Kestrel's HTTP/1.1 takes it as it is.</summary>
    NotAgent,

    /// <summary>An agent's upgrade so far; its head is not complete yet.</summary>
    NeedMore,

    /// <summary>A complete, well-formed WebSocket upgrade request for an agent path.</summary>
    Agent,
}

/// <summary>
/// An agent's WebSocket upgrade request (RFC 6455 section 4.1), read off a new connection before
/// Kestrel's HTTP/1.1 parser sees it. Deliberately narrow: it accepts only a plain <c>GET</c> of an
/// agent path with ASCII headers, no body and every handshake header right; anything else, valid
/// or not, is <see cref="UpgradeHeadOutcome.NotAgent"/> and goes to Kestrel untouched, which
/// answers it exactly as it answers any request.
/// </summary>
internal sealed class AgentUpgradeHead
{
    private static ReadOnlySpan<byte> Get => "GET "u8;

    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    private AgentUpgradeHead(string path, string query, HeaderDictionary headers, string webSocketKey, int length)
    {
        Path = path;
        Query = query;
        Headers = headers;
        WebSocketKey = webSocketKey;
        Length = length;
    }

    /// <summary>The request path, as sent (one of the agent paths, perhaps with a trailing slash).</summary>
    public string Path { get; }

    /// <summary>The query string with its <c>?</c>, or empty.</summary>
    public string Query { get; }

    public HeaderDictionary Headers { get; }

    public string WebSocketKey { get; }

    /// <summary>Bytes of the head, the blank line included.</summary>
    public int Length { get; }

    /// <summary>
    /// Reads <paramref name="buffer"/>, the connection's bytes so far, for one of <paramref name="routes"/>
    /// (its path, without regard to case and with or without a trailing slash, and its hosts); heads longer than <paramref name="maxHeadBytes"/> or with more than <paramref name="maxHeaders"/>
    /// headers are left to Kestrel, whose limits answer them.
    /// </summary>
    public static UpgradeHeadOutcome TryRead(ReadOnlySequence<byte> buffer, IReadOnlyList<AgentRoute> routes, int maxHeadBytes, int maxHeaders, out AgentUpgradeHead? head)
    {
        head = null;
        var available = (int)Math.Min(buffer.Length, maxHeadBytes);

        // Most connections are public clients: their first bytes settle it without copying their whole request.
        Span<byte> start = stackalloc byte[256];
        start = start[..Math.Min(available, start.Length)];
        buffer.Slice(0, start.Length).CopyTo(start);
        if (start.Length < available && Read(start, routes, overLimit: false, maxHeaders, out _) == UpgradeHeadOutcome.NotAgent)
        {
            return UpgradeHeadOutcome.NotAgent;
        }

        var bytes = ArrayPool<byte>.Shared.Rent(Math.Max(available, 1));
        try
        {
            var span = bytes.AsSpan(0, available);
            buffer.Slice(0, available).CopyTo(span);
            return Read(span, routes, buffer.Length > maxHeadBytes, maxHeaders, out head);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private static UpgradeHeadOutcome Read(ReadOnlySpan<byte> bytes, IReadOnlyList<AgentRoute> routes, bool overLimit, int maxHeaders, out AgentUpgradeHead? head)
    {
        head = null;
        if (!bytes.StartsWith(Get))
        {
            return Get.StartsWith(bytes) && !overLimit ? UpgradeHeadOutcome.NeedMore : UpgradeHeadOutcome.NotAgent;
        }

        // Lines end in CRLF; a bare LF is Kestrel's to judge, at once rather than after a timeout here.
        var end = bytes.IndexOf(HeadEnd);
        var headBytes = end < 0 ? bytes : bytes[..(end + HeadEnd.Length)];
        if (headBytes.Count((byte)'\n') != headBytes.Count("\r\n"u8))
        {
            return UpgradeHeadOutcome.NotAgent;
        }

        var lineEnd = bytes.IndexOf("\r\n"u8);
        var target = bytes[Get.Length..(lineEnd < 0 ? bytes.Length : lineEnd)];
        var targetEnd = target.IndexOf((byte)' ');
        var pathEnd = target.IndexOfAny((byte)' ', (byte)'?');
        var path = pathEnd < 0 ? target : target[..pathEnd];
        if (!IsPlainAscii(path) || !MayBeAgentPath(Encoding.ASCII.GetString(path), routes, complete: pathEnd >= 0 || lineEnd >= 0, out var matchedPath))
        {
            return UpgradeHeadOutcome.NotAgent;
        }

        if (end < 0)
        {
            return overLimit ? UpgradeHeadOutcome.NotAgent : UpgradeHeadOutcome.NeedMore;
        }

        // The request line: GET SP origin-form SP HTTP/1.1, nothing more.
        if (matchedPath is null || targetEnd < 0 || !target[(targetEnd + 1)..].SequenceEqual("HTTP/1.1"u8) || !IsVisibleAscii(target[..targetEnd]))
        {
            return UpgradeHeadOutcome.NotAgent;
        }

        var query = pathEnd < targetEnd ? Encoding.ASCII.GetString(target[pathEnd..targetEnd]) : string.Empty;
        if (ReadHeaders(bytes[(lineEnd + 2)..(end + 2)], maxHeaders) is not { } headers || WebSocketKeyOf(headers) is not { } key
            || !routes.Any(route => IsPath(matchedPath, route.Path) && route.Accepts(headers[HeaderNames.Host].ToString())))
        {
            return UpgradeHeadOutcome.NotAgent;
        }

        head = new AgentUpgradeHead(matchedPath, query, headers, key, end + HeadEnd.Length);
        return UpgradeHeadOutcome.Agent;
    }

    /// <summary>
    /// Whether <paramref name="path"/> is, or (not <paramref name="complete"/> yet) may become, an agent
    /// path; <paramref name="matched"/> is the path as sent once it is complete and matches.
    /// </summary>
    private static bool MayBeAgentPath(string path, IReadOnlyList<AgentRoute> routes, bool complete, out string? matched)
    {
        matched = null;
        foreach (var route in routes)
        {
            if (!complete)
            {
                if (route.Path.StartsWith(path, StringComparison.OrdinalIgnoreCase) || (route.Path + "/").StartsWith(path, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
            else if (IsPath(path, route.Path))
            {
                matched = path;
                return true;
            }
        }

        return false;
    }

    private static bool IsPath(string path, string agentPath) =>
        path.Equals(agentPath, StringComparison.OrdinalIgnoreCase) || path.Equals(agentPath + "/", StringComparison.OrdinalIgnoreCase);

    /// <summary>The header lines (each ending in CRLF), or null where anything is not plain and valid.</summary>
    private static HeaderDictionary? ReadHeaders(ReadOnlySpan<byte> lines, int maxHeaders)
    {
        var headers = new HeaderDictionary();
        var count = 0;
        while (!lines.IsEmpty)
        {
            var lineEnd = lines.IndexOf("\r\n"u8);
            var line = lines[..lineEnd];
            lines = lines[(lineEnd + 2)..];
            var colon = line.IndexOf((byte)':');
            if (++count > maxHeaders || colon <= 0 || !IsToken(line[..colon]) || !IsFieldValue(line[(colon + 1)..]))
            {
                return null;
            }

            var name = Encoding.ASCII.GetString(line[..colon]);
            var value = Encoding.ASCII.GetString(line[(colon + 1)..]).Trim(' ', '\t');
            headers.Append(name, value);
        }

        return headers;
    }

    /// <summary>The client's key when the headers make a complete WebSocket upgrade with no body; otherwise null.</summary>
    private static string? WebSocketKeyOf(IHeaderDictionary headers)
    {
        if (headers.Host.Count != 1 || headers.Host[0]!.Length == 0
            || headers.ContainsKey(HeaderNames.ContentLength) || headers.ContainsKey(HeaderNames.TransferEncoding)
            || !HasToken(headers.Upgrade, "websocket") || !HasToken(headers.Connection, "upgrade")
            || headers.SecWebSocketVersion.Count != 1 || headers.SecWebSocketVersion[0] != "13"
            || !HasToken(headers.SecWebSocketProtocol, WebSocketTransport.SubProtocol)
            || headers.SecWebSocketKey.Count != 1)
        {
            return null;
        }

        // RFC 6455 section 4.2.1: the key is 16 bytes in base64.
        var key = headers.SecWebSocketKey[0]!;
        Span<byte> decoded = stackalloc byte[16];
        return key.Length == 24 && Convert.TryFromBase64String(key, decoded, out var written) && written == 16 ? key : null;
    }

    private static bool HasToken(Microsoft.Extensions.Primitives.StringValues values, string token)
    {
        foreach (var value in values)
        {
            foreach (var item in value!.Split(',', StringSplitOptions.TrimEntries))
            {
                if (item.Equals(token, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool IsPlainAscii(ReadOnlySpan<byte> path) => IsVisibleAscii(path) && path.IndexOf((byte)'%') < 0;

    private static bool IsVisibleAscii(ReadOnlySpan<byte> text) => text.IndexOfAnyExceptInRange((byte)0x21, (byte)0x7E) < 0;

    // RFC 9110 section 5.6.2: token characters.
    private static readonly SearchValues<byte> TokenChars = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    private static bool IsToken(ReadOnlySpan<byte> name) => name.IndexOfAnyExcept(TokenChars) < 0;

    // Visible ASCII, spaces and tabs: what Kestrel accepts in a header value by default.
    private static bool IsFieldValue(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            if (b is not ((>= 0x20 and <= 0x7E) or (byte)'\t'))
            {
                return false;
            }
        }

        return true;
    }
}
