namespace WStunnel.Protocol.Frames;

/// <summary>An HTTP request's head as it crosses the tunnel.</summary>
internal sealed class RequestHead
{
    public required string Method { get; init; }

    /// <summary>The Host the gateway chose to forward, or empty to let the agent use its target's authority.</summary>
    public string Authority { get; init; } = "";

    /// <summary>Origin-form path and query, byte-exact as the gateway forwarded it.</summary>
    public required string PathAndQuery { get; init; }

    /// <summary>
    /// Which of the agent's allowed targets the request is for (<c>scheme://host[:port]</c>), or
    /// empty for its default target. The agent serves only origins it lists itself.
    /// </summary>
    public string Origin { get; init; } = "";

    public List<KeyValuePair<string, string>> Headers { get; init; } = [];
}

/// <summary>An HTTP response's head as it crosses the tunnel.</summary>
internal sealed class ResponseHead
{
    public required int StatusCode { get; init; }

    public List<KeyValuePair<string, string>> Headers { get; init; } = [];
}
