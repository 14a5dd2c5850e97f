namespace WStunnel.Protocol.Transports;

/// <summary>Headers of an agent's registration request, the same for both transports and both ends.</summary>
internal static class AgentHeaders
{
    /// <summary>The token the agent serves. A header, never the URL: URLs end up in access logs.</summary>
    public const string Token = "X-WStunnel-Token";

    /// <summary>The tunnel's agent secret, where the gateway's configuration asks for one; sent only when registering.</summary>
    public const string Secret = "X-WStunnel-Secret";

    /// <summary>
    /// The session an agent comes back to resume, so a full pool still lets it in; the session itself
    /// proves the claim in its handshake.
    /// </summary>
    public const string Resume = "X-WStunnel-Resume";
}
