using System.Buffers.Binary;

namespace WStunnel.Protocol.Frames;

/// <summary>
/// The fixed 10-byte frame header: type (1), flags (1), stream id (4, big-endian), payload length (4, big-endian).
/// </summary>
internal readonly record struct FrameHeader(FrameType Type, FrameFlags Flags, uint StreamId, int Length)
{
    public const int Size = 10;

    public bool EndStream => (Flags & FrameFlags.EndStream) != 0;

    public void Write(Span<byte> destination)
    {
        destination[0] = (byte)Type;
        destination[1] = (byte)Flags;
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], StreamId);
        BinaryPrimitives.WriteInt32BigEndian(destination[6..], Length);
    }

    /// <summary>
    /// Reads a header and checks it before anything is allocated for its payload: known type,
    /// known flags, and a length within <paramref name="maxPayload"/>.
    /// </summary>
    public static FrameHeader Read(ReadOnlySpan<byte> source, int maxPayload)
    {
        var type = (FrameType)source[0];
        if (type is < FrameType.Hello or > FrameType.Continue)
        {
            throw new TunnelProtocolException(ErrorCode.ProtocolError, $"unknown frame type 0x{source[0]:x2}");
        }

        var flags = (FrameFlags)source[1];
        if ((flags & ~FrameFlags.EndStream) != 0)
        {
            throw new TunnelProtocolException(ErrorCode.ProtocolError, $"unknown flags 0x{source[1]:x2} on {type} frame");
        }

        var streamId = BinaryPrimitives.ReadUInt32BigEndian(source[2..]);
        var length = BinaryPrimitives.ReadInt32BigEndian(source[6..]);
        if (length < 0 || length > maxPayload)
        {
            throw new TunnelProtocolException(ErrorCode.FrameSizeError, $"{type} frame of {(uint)length} bytes exceeds the limit of {maxPayload}");
        }

        return new FrameHeader(type, flags, streamId, length);
    }
}
