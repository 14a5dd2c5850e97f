using CsCheck;
using WStunnel.Protocol.Frames;

namespace WStunnel.Protocol.Tests.Frames;

/// <summary>The codec round-trips everything it can encode, and rejects every malformed or truncated input with a protocol error.</summary>
public sealed class FrameCodecTests
{
    private static readonly Gen<string> Token = Gen.String[Gen.Char["!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"], 1, 20];
    private static readonly Gen<string> FieldValue = Gen.String[Gen.Char.Where(c => c is not ('\r' or '\n' or '\0') && !char.IsSurrogate(c)), 0, 40];
    private static readonly Gen<string> Target = Gen.String[Gen.Char['!', '~'], 0, 60].Select(s => "/" + s.TrimStart('/'));
    private static readonly Gen<List<KeyValuePair<string, string>>> Headers =
        Gen.Select(Token, FieldValue, (n, v) => new KeyValuePair<string, string>(n, v)).List[0, 12];

    private static readonly Gen<string> Origin = Gen.OneOf(Gen.Const(""), Gen.String[Gen.Char.AlphaNumeric, 1, 20].Select(host => $"https://{host}:8443"));

    private static readonly Gen<RequestHead> RequestHeads = Gen.Select(Token, Gen.String[Gen.Char.AlphaNumeric, 0, 20], Target, Origin, Headers,
        (method, authority, target, origin, headers) => new RequestHead { Method = method, Authority = authority, PathAndQuery = target, Origin = origin, Headers = headers });

    private static readonly Gen<ResponseHead> ResponseHeads = Gen.Select(Gen.Int[100, 999], Headers,
        (status, headers) => new ResponseHead { StatusCode = status, Headers = headers });

    [Fact]
    public void Request_heads_round_trip()
    {
        RequestHeads.Sample(head =>
        {
            var buffer = new byte[HeadCodec.Measure(head)];
            Assert.Equal(buffer.Length, HeadCodec.Write(head, buffer));
            var decoded = HeadCodec.ReadRequestHead(buffer);
            Assert.Equal(head.Method, decoded.Method);
            Assert.Equal(head.Authority, decoded.Authority);
            Assert.Equal(head.PathAndQuery, decoded.PathAndQuery);
            Assert.Equal(head.Origin, decoded.Origin);
            Assert.Equal(head.Headers, decoded.Headers);
        });
    }

    [Theory]
    [InlineData("ftp://files.lan")]
    [InlineData("http://")]
    [InlineData("http://user@printer.lan")]
    [InlineData("http://printer.lan/path")]
    [InlineData("printer.lan:80")]
    public void An_origin_that_is_not_scheme_host_and_port_is_rejected(string origin)
    {
        var head = new RequestHead { Method = "GET", PathAndQuery = "/", Origin = origin };
        var buffer = new byte[HeadCodec.Measure(head)];
        HeadCodec.Write(head, buffer);
        var error = Assert.Throws<TunnelProtocolException>(() => HeadCodec.ReadRequestHead(buffer));
        Assert.Contains("origin is not scheme://host[:port]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Response_heads_and_trailers_round_trip()
    {
        ResponseHeads.Sample(head =>
        {
            var buffer = new byte[HeadCodec.Measure(head)];
            HeadCodec.Write(head, buffer);
            var decoded = HeadCodec.ReadResponseHead(buffer);
            Assert.Equal(head.StatusCode, decoded.StatusCode);
            Assert.Equal(head.Headers, decoded.Headers);

            var trailers = new byte[HeadCodec.MeasureHeaders(head.Headers)];
            HeadCodec.WriteHeaders(head.Headers, trailers);
            Assert.Equal(head.Headers, HeadCodec.ReadTrailers(trailers));
        });
    }

    [Fact]
    public void Hello_and_go_away_round_trip()
    {
        Gen.Select(Gen.UShort[1, 100], Gen.Int[SessionLimits.MinFramePayload, SessionLimits.MaxFramePayloadCeiling], Gen.Int[1, int.MaxValue], Gen.Guid, Gen.ULong, Gen.UInt)
            .Sample((min, frame, window, id, seq, features) =>
            {
                var limits = new SessionLimits { MaxFramePayload = frame, InitialStreamWindow = window, InitialSessionWindow = window, MaxConcurrentStreams = 7, MaxHeaderBytes = 1024 };
                var hello = new HelloMessage(min, (ushort)(min + 1), limits, id, seq, (SessionFeatures)features);
                var buffer = new byte[HelloMessage.Size];
                hello.Write(buffer);
                Assert.Equal(hello, HelloMessage.Read(buffer));
            });

        Gen.Select(Gen.UInt, Gen.Enum<ErrorCode>(), FieldValue).Sample((last, code, reason) =>
        {
            var message = new GoAwayMessage(last, code, reason);
            var buffer = new byte[message.Measure()];
            message.Write(buffer);
            var decoded = GoAwayMessage.Read(buffer);
            Assert.Equal(last, decoded.LastStreamId);
            Assert.Equal(code, decoded.Code);
            Assert.StartsWith(decoded.Reason, reason, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void A_hello_of_the_first_version_announces_no_features_and_a_later_ones_extra_fields_are_skipped()
    {
        var hello = new HelloMessage(1, 1, SessionLimits.Default, Guid.NewGuid(), 42, SessionFeatures.Upgrades);
        var buffer = new byte[HelloMessage.Size + 8]; // as a later version might send: more fields after ours
        hello.Write(buffer);

        Assert.Equal(hello, HelloMessage.Read(buffer));
        Assert.Equal(hello with { Features = SessionFeatures.None }, HelloMessage.Read(buffer.AsSpan(0, HelloMessage.BaseSize)));
    }

    [Fact]
    public void Every_truncation_of_a_valid_head_is_a_protocol_error()
    {
        RequestHeads.Sample(head =>
        {
            var buffer = new byte[HeadCodec.Measure(head)];
            HeadCodec.Write(head, buffer);
            for (var length = 0; length < buffer.Length; length++)
            {
                var truncated = buffer.AsSpan(0, length).ToArray();
                Assert.Throws<TunnelProtocolException>(() => HeadCodec.ReadRequestHead(truncated));
            }
        }, iter: 200);
    }

    [Fact]
    public void Random_bytes_never_decode_to_anything_but_a_head_or_a_protocol_error()
    {
        Gen.Byte.Array[0, 200].Sample(bytes =>
        {
            foreach (var decode in new Action[]
            {
                () => HeadCodec.ReadRequestHead(bytes),
                () => HeadCodec.ReadResponseHead(bytes),
                () => HeadCodec.ReadTrailers(bytes),
                () => HelloMessage.Read(bytes),
                () => GoAwayMessage.Read(bytes),
            })
            {
                try
                {
                    decode();
                }
                catch (TunnelProtocolException)
                {
                }
            }
        }, iter: 5000);
    }

    [Theory]
    [InlineData("GET", "/ok", "x-a", "line\r\nbreak", "contains CR, LF or NUL")]
    [InlineData("GET", "/ok", "bad name", "v", "header name is not an HTTP token")]
    [InlineData("G T", "/ok", "x", "v", "method is not an HTTP token")]
    [InlineData("GET", "http://elsewhere/", "x", "v", "not in origin form")]
    [InlineData("GET", "//elsewhere/x", "x", "v", "not in origin form")]
    [InlineData("GET", "/with space", "x", "v", "not in origin form")]
    public void Heads_that_could_smuggle_or_redirect_are_rejected(string method, string target, string name, string value, string reason)
    {
        var head = new RequestHead { Method = method, PathAndQuery = target, Headers = [new(name, value)] };
        var buffer = new byte[HeadCodec.Measure(head)];
        HeadCodec.Write(head, buffer);
        var error = Assert.Throws<TunnelProtocolException>(() => HeadCodec.ReadRequestHead(buffer));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_header_count_larger_than_the_payload_is_rejected_before_allocating()
    {
        // Method "G", empty authority, target "/", empty origin, then a header count of 2^28.
        byte[] payload = [1, (byte)'G', 0, 1, (byte)'/', 0, 0x80, 0x80, 0x80, 0x80, 0x01];
        var error = Assert.Throws<TunnelProtocolException>(() => HeadCodec.ReadRequestHead(payload));
        Assert.Contains("header count", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0x00, 0, 4, "unknown frame type")]
    [InlineData(0x0D, 0, 4, "unknown frame type")]
    [InlineData(0x04, 0x80, 4, "unknown flags")]
    [InlineData(0x04, 0, 70_000, "exceeds the limit")]
    [InlineData(0x04, 0, -1, "exceeds the limit")]
    public void Frame_headers_are_checked_before_the_payload_is_read(byte type, byte flags, int length, string reason)
    {
        var header = new byte[FrameHeader.Size];
        header[0] = type;
        header[1] = flags;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(6), length);
        var error = Assert.Throws<TunnelProtocolException>(() => FrameHeader.Read(header, 64 * 1024));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Frame_headers_round_trip()
    {
        Gen.Select(Gen.Byte[1, 11], Gen.Bool, Gen.UInt, Gen.Int[0, 65536]).Sample((type, end, stream, length) =>
        {
            var header = new FrameHeader((FrameType)type, end ? FrameFlags.EndStream : FrameFlags.None, stream, length);
            var buffer = new byte[FrameHeader.Size];
            header.Write(buffer);
            Assert.Equal(header, FrameHeader.Read(buffer, 65536));
        });
    }
}
