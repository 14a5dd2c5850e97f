namespace WStunnel.Protocol.Frames;

/// <summary>The kinds of frame a tunnel session carries.</summary>
internal enum FrameType : byte
{
    /// <summary>First frame each side sends: versions, limits and resume information.</summary>
    Hello = 0x01,

    /// <summary>Opens a stream with an HTTP request's method, target and headers (gateway to agent).</summary>
    RequestHead = 0x02,

    /// <summary>An HTTP response's status and headers (agent to gateway).</summary>
    ResponseHead = 0x03,

    /// <summary>A bounded piece of a body; with <see cref="FrameFlags.EndStream"/> and no bytes it is the end-of-stream frame.</summary>
    Data = 0x04,

    /// <summary>Trailing headers; always ends the sender's half of the stream.</summary>
    Trailers = 0x05,

    /// <summary>Abandons a stream in both directions, with an <see cref="ErrorCode"/>.</summary>
    Reset = 0x06,

    /// <summary>Grants flow-control credit for a stream, or for the whole session on stream 0.</summary>
    WindowUpdate = 0x07,

    /// <summary>Liveness probe; the peer answers with <see cref="Pong"/> carrying the same 8 bytes.</summary>
    Ping = 0x08,

    /// <summary>Answer to <see cref="Ping"/>.</summary>
    Pong = 0x09,

    /// <summary>Cumulative acknowledgement of the peer's sequenced frames.</summary>
    Ack = 0x0A,

    /// <summary>The sender opens or accepts no new streams; streams up to the given id finish.</summary>
    GoAway = 0x0B,

    /// <summary>
    /// The agent's target asks for the request body (HTTP's <c>100 Continue</c>) of a stream whose head
    /// carried <c>Expect: 100-continue</c>; only between peers that announced <see cref="SessionFeatures.ExpectContinue"/>.
    /// </summary>
    Continue = 0x0C,
}
