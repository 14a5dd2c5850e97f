namespace WStunnel.Server.Endpoints;

/// <summary>Headers of an agent's registration request.</summary>
internal static class AgentHeaders
{
    /// <summary>The token the agent serves. A header, never the URL: URLs end up in access logs.</summary>
    public const string Token = "X-WStunnel-Token";

    /// <summary>The tunnel's agent secret, where the gateway's configuration asks for one.</summary>
    public const string Secret = "X-WStunnel-Secret";
}
