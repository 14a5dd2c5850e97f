using Microsoft.AspNetCore.Http;

namespace WStunnel.Server.Addressing;

/// <summary>Reads the token from a request in one form, and says what the request looks like without it.</summary>
internal static class TokenAddressing
{
    /// <summary>The token in <c>PREFIX/TOKEN/rest</c>, and the path that remains (<c>/rest</c>, at least <c>/</c>).</summary>
    public static bool TryParsePath(PathString path, string prefix, out string token, out PathString rest)
    {
        token = "";
        rest = PathString.Empty;
        var value = path.Value ?? "";
        if (!value.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || value.Length <= prefix.Length + 1 || value[prefix.Length] != '/')
        {
            return false;
        }

        var start = prefix.Length + 1;
        var end = value.IndexOf('/', start);
        token = end < 0 ? value[start..] : value[start..end];
        rest = new PathString(end < 0 ? "/" : value[end..]);
        return token.Length > 0;
    }

    /// <summary>
    /// The raw request target without its <c>PREFIX/TOKEN</c> part, e.g. <c>/_token/T/a%2Fb?q</c> → <c>/a%2Fb?q</c>;
    /// null when the raw target does not have that shape.
    /// </summary>
    public static string? StripTokenFromRawTarget(string rawTarget, string prefix)
    {
        if (!rawTarget.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || rawTarget.Length <= prefix.Length || rawTarget[prefix.Length] != '/')
        {
            return null;
        }

        var end = rawTarget.AsSpan(prefix.Length + 1).IndexOfAny('/', '?');
        if (end < 0)
        {
            return "/";
        }

        var rest = rawTarget[(prefix.Length + 1 + end)..];
        return rest[0] == '?' ? "/" + rest : rest;
    }

    /// <summary>The first DNS label of <paramref name="host"/> when the rest is one of <paramref name="suffixes"/>.</summary>
    public static bool TryParseHostLabel(string host, IList<string> suffixes, out string token)
    {
        token = "";
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0)
        {
            return false;
        }

        var remainder = host.AsSpan(dot + 1);
        foreach (var suffix in suffixes)
        {
            if (remainder.Equals(suffix, StringComparison.OrdinalIgnoreCase))
            {
                token = host[..dot];
                return true;
            }
        }

        return false;
    }

    public static string? ReadToken(HttpContext context, AddressingForm form, WStunnelOptions options, out PathString? rewrittenPath)
    {
        rewrittenPath = null;
        var request = context.Request;
        switch (form)
        {
            case AddressingForm.Header:
                var header = request.Headers[options.TokenHeader].ToString().Trim();
                return header.Length > 0 ? header : null;
            case AddressingForm.Path:
                if (TryParsePath(request.Path, options.TokenPathPrefix, out var pathToken, out var rest))
                {
                    rewrittenPath = rest;
                    return pathToken;
                }

                return null;
            case AddressingForm.HostLabel:
                return TryParseHostLabel(request.Host.Host, options.HostSuffixes, out var label) ? label : null;
            default:
                return request.Host.HasValue ? request.Host.Host : null;
        }
    }
}
