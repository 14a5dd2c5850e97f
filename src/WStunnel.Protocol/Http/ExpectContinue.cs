namespace WStunnel.Protocol.Http;

/// <summary>
/// <c>Expect: 100-continue</c>: the client sends its body only once the server asks for it, or not
/// at all if the server answers first (RFC 9110 §10.1.1).
/// </summary>
internal static class ExpectContinue
{
    public const string HeaderName = "Expect";

    public static bool IsRequested(List<KeyValuePair<string, string>> headers)
    {
        foreach (var (name, value) in headers)
        {
            if (name.Equals(HeaderName, StringComparison.OrdinalIgnoreCase) && value.Trim().Equals("100-continue", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
