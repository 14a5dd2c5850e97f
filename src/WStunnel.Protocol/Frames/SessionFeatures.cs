namespace WStunnel.Protocol.Frames;

/// <summary>
/// What an end can do beyond the base protocol, announced in its hello. An end that announces
/// nothing (an older one) is sent nothing that needs a feature; unknown bits are ignored.
/// </summary>
[Flags]
internal enum SessionFeatures : uint
{
    None = 0,

    /// <summary>
    /// HTTP/1.1 upgrades (WebSockets): a request head carrying an <c>Upgrade</c> header keeps its
    /// request half open, and a <c>101</c> answer turns the stream into a two-way byte stream.
    /// </summary>
    Upgrades = 0x1,

    /// <summary>
    /// <c>Expect: 100-continue</c> crosses the tunnel: the gateway holds the body of a request whose
    /// head carries it until the agent sends <see cref="FrameType.Continue"/> (its target asked for the
    /// body), and sends none of it if the answer comes first.
    /// </summary>
    ExpectContinue = 0x2,
}
