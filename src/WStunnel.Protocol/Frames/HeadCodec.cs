namespace WStunnel.Protocol.Frames;

/// <summary>Encodes and strictly decodes request heads, response heads and trailers.</summary>
internal static class HeadCodec
{
    private const int MaxMethodBytes = 64;

    public static int Measure(RequestHead head) =>
        PayloadWriter.MeasureString(head.Method)
        + PayloadWriter.MeasureString(head.Authority)
        + PayloadWriter.MeasureString(head.PathAndQuery)
        + PayloadWriter.MeasureString(head.Origin)
        + MeasureHeaders(head.Headers);

    public static int Measure(ResponseHead head) => 2 + MeasureHeaders(head.Headers);

    public static int MeasureHeaders(List<KeyValuePair<string, string>> headers)
    {
        var size = PayloadWriter.MeasureVarUInt((uint)headers.Count);
        foreach (var (name, value) in headers)
        {
            size += PayloadWriter.MeasureString(name) + PayloadWriter.MeasureString(value);
        }

        return size;
    }

    public static int Write(RequestHead head, Span<byte> destination)
    {
        var writer = new PayloadWriter(destination);
        writer.WriteString(head.Method);
        writer.WriteString(head.Authority);
        writer.WriteString(head.PathAndQuery);
        writer.WriteString(head.Origin);
        WriteHeaders(ref writer, head.Headers);
        return writer.Position;
    }

    public static int Write(ResponseHead head, Span<byte> destination)
    {
        var writer = new PayloadWriter(destination);
        writer.WriteUInt16((ushort)head.StatusCode);
        WriteHeaders(ref writer, head.Headers);
        return writer.Position;
    }

    public static int WriteHeaders(List<KeyValuePair<string, string>> headers, Span<byte> destination)
    {
        var writer = new PayloadWriter(destination);
        WriteHeaders(ref writer, headers);
        return writer.Position;
    }

    public static RequestHead ReadRequestHead(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload, FrameType.RequestHead);
        var method = reader.ReadName(MaxMethodBytes);
        if (!HttpSyntax.IsToken(method))
        {
            throw reader.Malformed("method is not an HTTP token");
        }

        var authority = reader.ReadString(payload.Length);
        if (!HttpSyntax.IsAuthority(authority))
        {
            throw reader.Malformed("authority contains forbidden characters");
        }

        var target = reader.ReadString(payload.Length);
        if (!HttpSyntax.IsOriginFormTarget(target))
        {
            throw reader.Malformed("request target is not in origin form");
        }

        var origin = reader.ReadString(payload.Length);
        if (origin.Length > 0 && !HttpSyntax.IsOrigin(origin))
        {
            throw reader.Malformed("origin is not scheme://host[:port]");
        }

        var headers = ReadHeaders(ref reader, payload.Length);
        reader.EnsureEnd();
        return new RequestHead { Method = method, Authority = authority, PathAndQuery = target, Origin = origin, Headers = headers };
    }

    public static ResponseHead ReadResponseHead(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload, FrameType.ResponseHead);
        var status = reader.ReadUInt16();
        if (status is < 100 or > 999)
        {
            throw reader.Malformed($"status code {status} is out of range");
        }

        var headers = ReadHeaders(ref reader, payload.Length);
        reader.EnsureEnd();
        return new ResponseHead { StatusCode = status, Headers = headers };
    }

    public static List<KeyValuePair<string, string>> ReadTrailers(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload, FrameType.Trailers);
        var headers = ReadHeaders(ref reader, payload.Length);
        reader.EnsureEnd();
        return headers;
    }

    private static void WriteHeaders(ref PayloadWriter writer, List<KeyValuePair<string, string>> headers)
    {
        writer.WriteVarUInt((uint)headers.Count);
        foreach (var (name, value) in headers)
        {
            writer.WriteString(name);
            writer.WriteString(value);
        }
    }

    private static List<KeyValuePair<string, string>> ReadHeaders(ref PayloadReader reader, int maxBytes)
    {
        var count = reader.ReadVarUInt();

        // Each header takes at least two bytes, so a count the payload cannot hold is rejected before allocating.
        if (count > (uint)reader.Remaining / 2)
        {
            throw reader.Malformed($"header count {count} exceeds what the frame can hold");
        }

        var headers = new List<KeyValuePair<string, string>>((int)count);
        for (var i = 0; i < count; i++)
        {
            var name = reader.ReadName(maxBytes);
            if (!HttpSyntax.IsToken(name))
            {
                throw reader.Malformed("header name is not an HTTP token");
            }

            var value = reader.ReadString(maxBytes);
            if (!HttpSyntax.IsFieldValue(value))
            {
                throw reader.Malformed($"value of header '{name}' contains CR, LF or NUL");
            }

            headers.Add(new(name, value));
        }

        return headers;
    }
}
