namespace WStunnel.Server.Registry;

/// <summary>What a change of the configured tunnels did: names added, changed and removed, and the entries retired.</summary>
internal sealed class TunnelsReconfigured
{
    public List<string> Added { get; } = [];

    public List<string> Changed { get; } = [];

    public List<string> Removed { get; } = [];

    /// <summary>Entries no longer in use; their agents are to be told to come back.</summary>
    public List<TunnelEntry> Retired { get; } = [];

    public bool Any => Added.Count + Changed.Count + Removed.Count + Retired.Count > 0;
}
