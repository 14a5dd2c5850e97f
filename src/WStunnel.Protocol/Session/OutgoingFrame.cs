using System.Buffers;
using System.Buffers.Binary;
using WStunnel.Protocol.Frames;

namespace WStunnel.Protocol.Session;

/// <summary>
/// A frame waiting to be written. Payloads live in pooled arrays (returned after the write) or,
/// for the small control frames, inline in <see cref="Inline"/> so they allocate nothing.
/// </summary>
internal readonly struct OutgoingFrame
{
    private OutgoingFrame(FrameType type, FrameFlags flags, uint streamId, byte[]? payload, int length, ulong inline)
    {
        Type = type;
        Flags = flags;
        StreamId = streamId;
        Payload = payload;
        Length = length;
        Inline = inline;
    }

    public FrameType Type { get; }

    public FrameFlags Flags { get; }

    public uint StreamId { get; }

    public byte[]? Payload { get; }

    public int Length { get; }

    public ulong Inline { get; }

    public int EncodedSize => FrameHeader.Size + Length;

    /// <summary>Sequenced frames are counted and acknowledged; transport-level ones (ping, pong, ack) are not.</summary>
    public bool IsSequenced => Type is not (FrameType.Ping or FrameType.Pong or FrameType.Ack or FrameType.Hello);

    public static OutgoingFrame WithPayload(FrameType type, FrameFlags flags, uint streamId, byte[] pooledPayload, int length) =>
        new(type, flags, streamId, pooledPayload, length, 0);

    public static OutgoingFrame Empty(FrameType type, FrameFlags flags, uint streamId) =>
        new(type, flags, streamId, null, 0, 0);

    public static OutgoingFrame UInt32(FrameType type, uint streamId, uint value) =>
        new(type, FrameFlags.None, streamId, null, 4, value);

    public static OutgoingFrame UInt64(FrameType type, ulong value) =>
        new(type, FrameFlags.None, 0, null, 8, value);

    public int Encode(Span<byte> destination)
    {
        new FrameHeader(Type, Flags, StreamId, Length).Write(destination);
        var payload = destination.Slice(FrameHeader.Size, Length);
        if (Payload is not null)
        {
            Payload.AsSpan(0, Length).CopyTo(payload);
        }
        else if (Length == 4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)Inline);
        }
        else if (Length == 8)
        {
            BinaryPrimitives.WriteUInt64BigEndian(payload, Inline);
        }

        return FrameHeader.Size + Length;
    }

    public void ReturnPayload()
    {
        if (Payload is not null)
        {
            ArrayPool<byte>.Shared.Return(Payload);
        }
    }
}
