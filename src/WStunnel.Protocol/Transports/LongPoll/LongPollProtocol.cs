namespace WStunnel.Protocol.Transports.LongPoll;

/// <summary>
/// The HTTPS long-poll transport's wire contract. The agent opens a connection, then keeps one poll
/// outstanding for gateway-to-agent bytes and POSTs agent-to-gateway bytes. Both directions are one
/// ordered byte stream addressed by offsets: a poll carries the offset the agent has received up to
/// (the cumulative acknowledgement) and the gateway answers from there, so a lost answer is simply
/// sent again; a send carries its starting offset, so a retried send is never applied twice.
/// </summary>
internal static class LongPollProtocol
{
    /// <summary>Registration: answered with the connection id and the poll timeout.</summary>
    public const string ConnectPath = "/connect";

    /// <summary>Waits for gateway-to-agent bytes; answers at once when there are some.</summary>
    public const string PollPath = "/poll";

    /// <summary>Carries agent-to-gateway bytes.</summary>
    public const string SendPath = "/send";

    /// <summary>Ends the connection.</summary>
    public const string ClosePath = "/close";

    public const string ConnectionHeader = "X-WStunnel-Connection";

    /// <summary>On a poll: the offset received up to. On a poll's answer and on a send: where the body's bytes start.</summary>
    public const string OffsetHeader = "X-WStunnel-Offset";

    /// <summary>On the connect answer: how long the gateway holds an empty poll, in milliseconds.</summary>
    public const string PollTimeoutHeader = "X-WStunnel-Poll-Timeout";

    public const string ContentType = "application/octet-stream";

    /// <summary>Most bytes one poll answer carries; the agent polls again at once for more.</summary>
    public const int MaxPollBytes = 1024 * 1024;
}
