namespace WStunnel.Protocol.Frames;

/// <summary>Payload of a go-away frame: the last stream the sender will finish, why, and a short reason for logs.</summary>
internal readonly record struct GoAwayMessage(uint LastStreamId, ErrorCode Code, string Reason)
{
    public const int MaxReasonBytes = 256;

    public int Measure() => 8 + PayloadWriter.MeasureString(Truncate(Reason));

    public int Write(Span<byte> destination)
    {
        var writer = new PayloadWriter(destination);
        writer.WriteUInt32(LastStreamId);
        writer.WriteUInt32((uint)Code);
        writer.WriteString(Truncate(Reason));
        return writer.Position;
    }

    public static GoAwayMessage Read(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload, FrameType.GoAway);
        var last = reader.ReadUInt32();
        var code = (ErrorCode)reader.ReadUInt32();
        var reason = reader.ReadString(MaxReasonBytes);
        reader.EnsureEnd();
        return new GoAwayMessage(last, code, reason);
    }

    private static string Truncate(string reason) => reason.Length <= 80 ? reason : reason[..80];
}
