using WStunnel.Server.Registry;

namespace WStunnel.Server.Forwarding;

/// <summary>Keys for what request transforms hand to the tunnel handler through <see cref="HttpRequestMessage.Options"/>.</summary>
internal static class TunnelRequestOptions
{
    /// <summary>The tunnel a token-addressed request resolved to.</summary>
    public static readonly HttpRequestOptionsKey<TunnelEntry> Tunnel = new("WStunnel.Tunnel");

    /// <summary>
    /// The origin-form target to send, byte-exact as the client wrote it (minus any token prefix), for
    /// routes whose path WStunnel owns; YARP's path composition re-encodes some escapes such as <c>%2F</c>.
    /// </summary>
    public static readonly HttpRequestOptionsKey<string> Target = new("WStunnel.Target");
}
