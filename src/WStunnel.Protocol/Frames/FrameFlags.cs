namespace WStunnel.Protocol.Frames;

/// <summary>Per-frame flags.</summary>
[Flags]
internal enum FrameFlags : byte
{
    None = 0,

    /// <summary>The sender's half of the stream ends with this frame.</summary>
    EndStream = 0x01,
}
