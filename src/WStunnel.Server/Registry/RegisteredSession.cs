using WStunnel.Protocol.Session;

namespace WStunnel.Server.Registry;

/// <summary>A live agent session as the registry knows it: the tunnel it serves, who its agent is and since when.</summary>
internal sealed record RegisteredSession(TunnelSession Session, TunnelEntry Tunnel, AgentIdentity Agent, DateTimeOffset ConnectedAt);
