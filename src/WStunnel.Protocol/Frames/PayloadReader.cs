using System.Buffers.Binary;
using System.Text;

namespace WStunnel.Protocol.Frames;

/// <summary>
/// Reads frame payload fields strictly: every length is checked against what remains before
/// anything is allocated, and a short or malformed payload is a protocol error.
/// </summary>
internal ref struct PayloadReader(ReadOnlySpan<byte> source, FrameType frame)
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly ReadOnlySpan<byte> _source = source;
    private readonly FrameType _frame = frame;
    private int _position;

    public readonly int Remaining => _source.Length - _position;

    public byte ReadByte() => Take(1)[0];

    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));

    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64BigEndian(Take(8));

    public ReadOnlySpan<byte> ReadBytes(int count) => Take(count);

    public uint ReadVarUInt()
    {
        uint value = 0;
        for (var shift = 0; shift < 35; shift += 7)
        {
            var b = ReadByte();
            if (shift == 28 && b > 0x0F)
            {
                throw Malformed("variable-length integer overflows 32 bits");
            }

            value |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        throw Malformed("variable-length integer is too long");
    }

    public string ReadString(int maxBytes) => ReadString(maxBytes, shareKnown: false);

    /// <summary>Reads a string that is often a well-known method or header name, sharing one instance of those.</summary>
    public string ReadName(int maxBytes) => ReadString(maxBytes, shareKnown: true);

    private string ReadString(int maxBytes, bool shareKnown)
    {
        var length = ReadVarUInt();
        if (length > (uint)maxBytes || length > (uint)Remaining)
        {
            throw Malformed($"string of {length} bytes exceeds what the frame allows");
        }

        var bytes = Take((int)length);
        if (shareKnown && KnownStrings.Find(bytes) is { } known)
        {
            return known;
        }

        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Malformed("string is not valid UTF-8");
        }
    }

    public readonly void EnsureEnd()
    {
        if (Remaining != 0)
        {
            throw Malformed($"{Remaining} unexpected trailing bytes");
        }
    }

    public readonly TunnelProtocolException Malformed(string detail) =>
        new(ErrorCode.ProtocolError, $"malformed {_frame} frame: {detail}");

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > Remaining)
        {
            throw Malformed("payload is truncated");
        }

        var slice = _source.Slice(_position, count);
        _position += count;
        return slice;
    }
}
