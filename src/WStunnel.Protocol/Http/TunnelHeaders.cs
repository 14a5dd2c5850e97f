using System.Net.Http.Headers;

namespace WStunnel.Protocol.Http;

/// <summary>
/// Moves headers between <see cref="System.Net.Http"/> messages and the tunnel's header lists, the
/// same way at both ends: every value of every end-to-end header, never a connection-specific one.
/// </summary>
internal static class TunnelHeaders
{
    /// <summary>Collects a message's headers (and its content's) for the tunnel.</summary>
    /// <param name="headers">The message's headers.</param>
    /// <param name="contentHeaders">Its content's headers, if it has content.</param>
    /// <param name="spare">Room for headers the caller adds afterwards, so that the list is allocated once.</param>
    public static List<KeyValuePair<string, string>> Collect(HttpHeaders headers, HttpHeaders? contentHeaders, int spare = 0)
    {
        var named = headers.NonValidated.TryGetValues("Connection", out var connection) ? HopByHopHeaders.NamedInConnection(connection) : null;
        var list = new List<KeyValuePair<string, string>>(headers.NonValidated.Count + (contentHeaders?.NonValidated.Count ?? 0) + spare);
        Collect(headers, named, list);
        if (contentHeaders is not null)
        {
            Collect(contentHeaders, named, list);
        }

        return list;
    }

    /// <summary>
    /// Adds headers from the tunnel to a message: those the message type does not take (content
    /// headers) go to the content, which <paramref name="content"/> supplies when first needed.
    /// </summary>
    public static void CopyTo<TState>(List<KeyValuePair<string, string>> headers, HttpHeaders target, TState state, Func<TState, HttpContentHeaders> content)
    {
        HashSet<string>? named = null;
        foreach (var (name, value) in headers)
        {
            if (string.Equals(name, "Connection", StringComparison.OrdinalIgnoreCase))
            {
                named = HopByHopHeaders.NamedInConnection([.. named ?? [], value]);
            }
        }

        foreach (var (name, value) in headers)
        {
            if (!HopByHopHeaders.ShouldDrop(name, named) && !target.TryAddWithoutValidation(name, value))
            {
                content(state).TryAddWithoutValidation(name, value);
            }
        }
    }

    private static void Collect(HttpHeaders source, HashSet<string>? named, List<KeyValuePair<string, string>> into)
    {
        foreach (var (name, values) in source.NonValidated)
        {
            if (HopByHopHeaders.ShouldDrop(name, named))
            {
                continue;
            }

            foreach (var value in values)
            {
                into.Add(new(name, value));
            }
        }
    }
}
