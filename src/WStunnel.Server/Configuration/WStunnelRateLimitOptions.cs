namespace WStunnel.Server;

/// <summary>
/// Per client address limits that slow down abuse: agents registering over and over, and clients
/// guessing tokens. Exceeding one answers 429 with <c>Retry-After</c>. Zero turns a limit off.
/// </summary>
public sealed class WStunnelRateLimitOptions
{
    /// <summary>
    /// Agent registrations (WebSocket or long-poll connects, resumes included) per minute from one
    /// address; generous, because many agents may share one NAT address. Default: 600.
    /// </summary>
    public int RegistrationsPerMinute { get; set; } = 600;

    /// <summary>Requests for tokens the gateway does not know, per minute from one address. Default: 120.</summary>
    public int UnknownTokenRequestsPerMinute { get; set; } = 120;
}
