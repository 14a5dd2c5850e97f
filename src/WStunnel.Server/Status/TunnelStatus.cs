using System.Net;

namespace WStunnel.Server.Status;

/// <summary>One tunnel as the status endpoints show it: by name or token fingerprint, never by token.</summary>
internal sealed record TunnelStatus(
    string Name,
    bool IsNamed,
    int MaxAgents,
    IReadOnlyList<AgentStatus> Agents,
    int Queued,
    long Requests,
    long Errors,
    long BytesToAgent,
    long BytesFromAgent,
    DateTimeOffset? LastRequestAt,
    DateTimeOffset? DisconnectedAt);

/// <summary>One agent session serving a tunnel.</summary>
internal sealed record AgentStatus(
    IPAddress? Address,
    string? Certificate,
    string Transport,
    DateTimeOffset ConnectedAt,
    bool Connected,
    int InFlight,
    int Resumptions);
