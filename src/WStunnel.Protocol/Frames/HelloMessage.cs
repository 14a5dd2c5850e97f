namespace WStunnel.Protocol.Frames;

/// <summary>
/// The first frame on every connection. Each side states the versions it speaks and the limits it
/// enforces on what it receives; the peer must stay within them. <see cref="SessionId"/> and
/// <see cref="LastReceivedSequence"/> let a session resume on a new connection.
/// </summary>
internal readonly record struct HelloMessage(
    ushort MinVersion,
    ushort MaxVersion,
    SessionLimits Limits,
    Guid SessionId,
    ulong LastReceivedSequence,
    SessionFeatures Features = SessionFeatures.None)
{
    /// <summary>The first version's fields; later fields are appended, and older readers skip them.</summary>
    public const int BaseSize = 2 + 2 + (5 * 4) + 16 + 8;

    /// <summary>What this version writes: the base fields, then the features.</summary>
    public const int Size = BaseSize + 4;

    public void Write(Span<byte> destination)
    {
        var writer = new PayloadWriter(destination);
        writer.WriteUInt16(MinVersion);
        writer.WriteUInt16(MaxVersion);
        writer.WriteUInt32((uint)Limits.MaxFramePayload);
        writer.WriteUInt32((uint)Limits.InitialStreamWindow);
        writer.WriteUInt32((uint)Limits.InitialSessionWindow);
        writer.WriteUInt32((uint)Limits.MaxConcurrentStreams);
        writer.WriteUInt32((uint)Limits.MaxHeaderBytes);
        Span<byte> id = stackalloc byte[16];
        SessionId.TryWriteBytes(id, bigEndian: true, out _);
        writer.WriteBytes(id);
        writer.WriteUInt64(LastReceivedSequence);
        writer.WriteUInt32((uint)Features);
    }

    public static HelloMessage Read(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload, FrameType.Hello);
        var min = reader.ReadUInt16();
        var max = reader.ReadUInt16();
        if (min == 0 || min > max)
        {
            throw reader.Malformed($"version range {min}..{max} is empty");
        }

        var limits = new SessionLimits
        {
            MaxFramePayload = ReadLimit(ref reader, "max frame payload", SessionLimits.MinFramePayload, SessionLimits.MaxFramePayloadCeiling),
            InitialStreamWindow = ReadLimit(ref reader, "initial stream window", 1, int.MaxValue),
            InitialSessionWindow = ReadLimit(ref reader, "initial session window", 1, int.MaxValue),
            MaxConcurrentStreams = ReadLimit(ref reader, "max concurrent streams", 1, int.MaxValue),
            MaxHeaderBytes = ReadLimit(ref reader, "max header bytes", 1, int.MaxValue),
        };
        var sessionId = new Guid(reader.ReadBytes(16), bigEndian: true);
        var lastReceived = reader.ReadUInt64();

        // A hello of the first version ends here: that peer announces no features.
        var features = reader.Remaining >= 4 ? (SessionFeatures)reader.ReadUInt32() : SessionFeatures.None;
        return new HelloMessage(min, max, limits, sessionId, lastReceived, features);
    }

    private static int ReadLimit(ref PayloadReader reader, string name, int min, int max)
    {
        var value = reader.ReadUInt32();
        if (value < (uint)min || value > (uint)max)
        {
            throw reader.Malformed($"{name} {value} is outside {min}..{max}");
        }

        return (int)value;
    }
}
