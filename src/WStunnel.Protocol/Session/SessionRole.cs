namespace WStunnel.Protocol.Session;

/// <summary>Which end of the tunnel a session runs at.</summary>
internal enum SessionRole
{
    /// <summary>Opens streams (one per forwarded request) and issues the session id.</summary>
    Gateway,

    /// <summary>Accepts streams and answers them.</summary>
    Agent,
}
