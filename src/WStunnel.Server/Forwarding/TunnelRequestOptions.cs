using WStunnel.Server.Registry;

namespace WStunnel.Server.Forwarding;

/// <summary>Keys for what request transforms hand to the tunnel handler through <see cref="HttpRequestMessage.Options"/>.</summary>
internal static class TunnelRequestOptions
{
    /// <summary>The tunnel a token-addressed request resolved to.</summary>
    public static readonly HttpRequestOptionsKey<TunnelEntry> Tunnel = new("WStunnel.Tunnel");
}
