namespace WStunnel.Agent;

/// <summary>How the agent reaches the gateway.</summary>
public enum AgentTransport
{
    /// <summary>WebSocket first; HTTPS long-poll when the upgrade fails, retrying WebSocket now and then.</summary>
    Auto,

    /// <summary>Only a WebSocket.</summary>
    WebSocket,

    /// <summary>Only HTTPS long-poll, for networks that break WebSockets.</summary>
    LongPoll,
}
