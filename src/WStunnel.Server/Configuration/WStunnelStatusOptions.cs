namespace WStunnel.Server;

/// <summary>
/// Who may read the gateway's status (<c>MapWStunnelStatus()</c>: <c>/_stats</c>, its JSON form and
/// page). They show tunnels, agent addresses and identities — never token material — so they answer
/// only callers from loopback and from <see cref="AllowedNetworks"/>; chain
/// <c>.RequireAuthorization(...)</c> on the endpoints to ask for a login as well.
/// </summary>
public sealed class WStunnelStatusOptions
{
    /// <summary>IP addresses or CIDR networks, besides loopback, whose callers may read the status. Default: none.</summary>
    public IList<string> AllowedNetworks { get; } = [];

    /// <summary>Serves the read-only status page at <c>/_stats/ui</c> (tunnels and live request rates). Default: false.</summary>
    public bool Page { get; set; }
}
