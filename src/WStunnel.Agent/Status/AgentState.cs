namespace WStunnel.Agent.Status;

/// <summary>What an agent is doing, for its status file and its metrics.</summary>
/// <param name="Connected">Whether a tunnel is open now.</param>
/// <param name="Transport">The transport of the open tunnel (<c>websocket</c>, <c>longpoll</c>), or of the last one.</param>
/// <param name="Since">When the agent entered this state.</param>
/// <param name="LastError">Why the last attempt or connection failed, or null; never secret.</param>
/// <param name="Reconnects">Tunnels opened after the first.</param>
internal sealed record AgentState(bool Connected, string? Transport, DateTimeOffset Since, string? LastError, long Reconnects)
{
    public static AgentState Starting(DateTimeOffset now) => new(false, null, now, null, 0);
}
