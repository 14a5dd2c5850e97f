using System.Buffers;

namespace WStunnel.Protocol.Frames;

/// <summary>RFC 9110 syntax checks for what crosses the tunnel, so neither end ever emits a smuggled line.</summary>
internal static class HttpSyntax
{
    // tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    private static readonly SearchValues<char> TokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    private static readonly SearchValues<char> ForbiddenInValue = SearchValues.Create("\r\n\0");

    public static bool IsToken(string value) => value.Length > 0 && !value.AsSpan().ContainsAnyExcept(TokenChars);

    public static bool IsFieldValue(string value) => !value.AsSpan().ContainsAny(ForbiddenInValue);

    /// <summary>Origin-form (<c>/path?query</c>) or the asterisk form; never absolute-form, so an agent cannot be steered to another host.</summary>
    public static bool IsOriginFormTarget(string value)
    {
        if (value == "*")
        {
            return true;
        }

        if (value.Length == 0 || value[0] != '/' || value.StartsWith("//", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (var c in value)
        {
            if (c <= ' ' || c >= 0x7F)
            {
                return false;
            }
        }

        return true;
    }

    public static bool IsAuthority(string value)
    {
        foreach (var c in value)
        {
            if (c <= ' ' || c >= 0x7F || c is '/' or '?' or '#' or '@' or '\\')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>An origin: <c>http://</c> or <c>https://</c> and a non-empty authority, nothing more (no user info, no path).</summary>
    public static bool IsOrigin(string value)
    {
        var rest = value.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? value[7..]
            : value.StartsWith("https://", StringComparison.OrdinalIgnoreCase) ? value[8..]
            : null;
        return !string.IsNullOrEmpty(rest) && IsAuthority(rest);
    }
}
