using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;
using Xunit.Sdk;

namespace WStunnel.Protocol.Tests.Session;

/// <summary>
/// A peer that sends frames of any type, in any order, with any flags, stream ids and payloads
/// (seeded, so a failure names the sequence that caused it): the session serves on or ends with a
/// protocol error — never another exception, never a lost connection it would wait to resume, and
/// every stream it opened or served ends once the session is disposed.
/// </summary>
public sealed class HostilePeerTests
{
    // More for a deeper search: HOSTILE_PEER_SEQUENCES=60000 (each test then runs for minutes).
    private static readonly int Sequences = int.Parse(Environment.GetEnvironmentVariable("HOSTILE_PEER_SEQUENCES") ?? "300", CultureInfo.InvariantCulture);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private static readonly FrameType[] Types = Enum.GetValues<FrameType>();

    // What each end expects from its peer; most frames are of these, so that sequences get past the first.
    private static readonly FrameType[] FromAgent =
        [FrameType.ResponseHead, FrameType.Data, FrameType.Data, FrameType.Data, FrameType.Trailers, FrameType.Reset, FrameType.WindowUpdate, FrameType.Ping, FrameType.Pong, FrameType.GoAway];

    private static readonly FrameType[] FromGateway =
        [FrameType.RequestHead, FrameType.RequestHead, FrameType.Data, FrameType.Data, FrameType.Trailers, FrameType.Reset, FrameType.WindowUpdate, FrameType.Ping, FrameType.Pong, FrameType.GoAway];

    private static readonly string[] Methods = ["GET", "POST", "PUT", "CONNECT", "", "G\u00e9T", "GET /"];
    private static readonly string[] Paths = ["/", "/a?b=c", "", "*", "http://elsewhere/", "/\r\nx: y", "//", "/%00"];
    private static readonly string[] HeaderNames = ["content-length", "transfer-encoding", "connection", "expect", "host", "upgrade", "te", "x-a"];
    private static readonly string[] BadHeaderNames = ["", "bad name", "x-\u00e9", ":path"];
    private static readonly string[] HeaderValues =
        ["0", "5", "-1", "abc", "99999999999999999999", "chunked", "close", "100-continue", "websocket", "trailers", "", new string('v', 300)];
    private static readonly string[] BadHeaderValues = ["a\r\nb", "\0"];

    [Fact]
    public async Task A_gateway_fed_random_frames_serves_on_or_ends_with_a_protocol_error()
    {
        for (var seed = 0; seed < Sequences; seed++)
        {
            await WithSeedAsync(seed, GatewayUnderAttackAsync);
        }
    }

    [Fact]
    public async Task An_agent_fed_random_frames_serves_on_or_ends_with_a_protocol_error()
    {
        for (var seed = 0; seed < Sequences; seed++)
        {
            await WithSeedAsync(seed, AgentUnderAttackAsync);
        }
    }

    private static async Task WithSeedAsync(int seed, Func<Random, Task> run)
    {
        try
        {
            await run(new Random(seed));
        }
        catch (Exception ex)
        {
            throw new XunitException($"sequence {seed}: {ex.GetType().Name}: {ex.Message}", ex);
        }
    }

    private static async Task GatewayUnderAttackAsync(Random random)
    {
        var (gatewayTransport, agentTransport) = InMemoryTransport.CreatePair();
        gatewayTransport.InjectFromPeer(Hello(random));
        var gateway = await TunnelSession.StartAsync(gatewayTransport, Options(), SessionRole.Gateway, null, default);
        var consumers = new List<Task>();
        try
        {
            var opened = random.Next(1, 4);
            for (var i = 0; i < opened; i++)
            {
                var withBody = random.Next(2) == 0;
                var stream = await gateway.OpenStreamAsync(withBody ? new RequestHead { Method = "POST", PathAndQuery = "/" } : SessionPair.Get(), endStream: !withBody, default);
                consumers.Add(ConsumeResponseAsync(stream));
                if (withBody)
                {
                    // Often more than the agent's window: the writer may wait for credit it never gets.
                    consumers.Add(SendBodyAsync(stream, random.Next(0, 100_000)));
                }
            }

            await AttackAsync(
                random, gateway, gatewayTransport, FromAgent,
                streamIdFor: _ => (uint)(random.Next(8) == 0 ? random.Next(0, opened + 3) : random.Next(1, opened + 1)),
                opening: frames =>
                {
                    // Most requests get an answer's head first, so that what follows reaches their bodies.
                    for (var id = 1u; id <= opened; id++)
                    {
                        if (random.Next(4) != 0)
                        {
                            WriteFrame(frames, FrameType.ResponseHead, random.Next(4) == 0 ? FrameFlags.EndStream : FrameFlags.None, id, Payload(FrameType.ResponseHead, random));
                        }
                    }
                });
        }
        finally
        {
            await gateway.DisposeAsync().AsTask().WaitAsync(Deadline);
            GC.KeepAlive(agentTransport);
        }

        // Each request the gateway opened ends: answered, reset, or failed with the session.
        await Task.WhenAll(consumers).WaitAsync(Deadline);
    }

    private static async Task AgentUnderAttackAsync(Random random)
    {
        var (gatewayTransport, agentTransport) = InMemoryTransport.CreatePair();
        agentTransport.InjectFromPeer(Hello(random));
        var unexpected = new ConcurrentQueue<Exception>();
        var answerLength = random.Next(0, 100_000); // often more than the gateway's window
        var handlers = new ConcurrentQueue<Task>();
        var agent = await TunnelSession.StartAsync(agentTransport, Options(), SessionRole.Agent, stream =>
        {
            var handler = ServeAsync(stream, answerLength, unexpected);
            handlers.Enqueue(handler);
            return handler;
        }, default);
        var lastId = 0u;
        try
        {
            // Requests mostly on new streams in order, the other frames mostly on streams already opened.
            await AttackAsync(random, agent, agentTransport, FromGateway, streamIdFor: type => (type, random.Next(8)) switch
            {
                (_, 0) => (uint)random.Next(0, (int)lastId + 3),
                (FrameType.RequestHead, _) => ++lastId,
                _ => (uint)random.Next(1, (int)lastId + 1),
            },
            opening: frames =>
            {
                for (var i = random.Next(1, 4); i > 0; i--)
                {
                    WriteFrame(frames, FrameType.RequestHead, random.Next(2) == 0 ? FrameFlags.EndStream : FrameFlags.None, ++lastId, Payload(FrameType.RequestHead, random));
                }
            });
        }
        finally
        {
            await agent.DisposeAsync().AsTask().WaitAsync(Deadline);
            GC.KeepAlive(gatewayTransport);
        }

        await Task.WhenAll(handlers).WaitAsync(Deadline);
        Assert.Empty(unexpected);
    }

    /// <summary>
    /// Sends a random sequence of frames in batches split at random bytes, then a ping whose pong
    /// shows that the session read all of it; checks how the session stands.
    /// </summary>
    private static async Task AttackAsync(
        Random random, TunnelSession session, InMemoryTransport transport, FrameType[] expected, Func<FrameType, uint> streamIdFor, Action<MemoryStream> opening)
    {
        using var frames = new MemoryStream();
        opening(frames);
        var count = random.Next(1, 25);
        for (var i = 0; i < count; i++)
        {
            WriteFrame(frames, random, expected, streamIdFor);
        }

        var sentinel = (ulong)random.NextInt64();
        WriteFrame(frames, FrameType.Ping, FrameFlags.None, 0, BigEndian(sentinel));
        var bytes = frames.ToArray();
        for (var offset = 0; offset < bytes.Length;)
        {
            var length = random.Next(2) == 0 ? bytes.Length - offset : random.Next(1, bytes.Length - offset + 1);
            transport.InjectFromPeer(bytes[offset..(offset + length)]);
            offset += length;
        }

        var stop = DateTime.UtcNow + Deadline;
        while (!session.Completion.IsCompleted && !session.IsDetached && !Answered(transport, sentinel))
        {
            Assert.True(DateTime.UtcNow < stop, "the session neither answered the ping nor ended");
            await Task.Delay(1);
        }

        Assert.False(session.IsDetached, $"the session took a frame for a lost connection: {session.DetachReason}");
        if (session.Completion.IsCompleted && session.Failure is { } failure)
        {
            Assert.IsType<TunnelProtocolException>(failure);
        }
    }

    private static async Task ConsumeResponseAsync(TunnelStream stream)
    {
        try
        {
            await stream.ResponseHead;
            await SessionPair.ReadToEndAsync(stream);
        }
        catch (TunnelStreamException)
        {
            // Reset by the peer, or lost with the session: the request fails cleanly.
        }
    }

    private static async Task SendBodyAsync(TunnelStream stream, int length)
    {
        try
        {
            await stream.WriteAsync(new byte[length], stream.Aborted);
            stream.Complete();
        }
        catch (Exception ex) when (ex is TunnelStreamException || (ex is OperationCanceledException && stream.Aborted.IsCancellationRequested))
        {
            // Reset by the peer, or lost with the session.
        }
    }

    private static async Task ServeAsync(TunnelStream stream, int answerLength, ConcurrentQueue<Exception> unexpected)
    {
        try
        {
            await SessionPair.ReadToEndAsync(stream, stream.Aborted);
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            await stream.WriteAsync(new byte[answerLength], stream.Aborted);
            stream.Complete();
        }
        catch (Exception ex) when (ex is TunnelStreamException || (ex is OperationCanceledException && stream.Aborted.IsCancellationRequested))
        {
            // Reset by the peer, or lost with the session.
        }
        catch (Exception ex)
        {
            unexpected.Enqueue(ex);
        }
    }

    private static bool Answered(InMemoryTransport transport, ulong sentinel)
    {
        lock (transport.Sent)
        {
            foreach (var batch in transport.Sent)
            {
                for (var offset = 0; offset + FrameHeader.Size <= batch.Length;)
                {
                    var header = FrameHeader.Read(batch.AsSpan(offset), SessionLimits.MaxFramePayloadCeiling);
                    var payload = batch.AsSpan(offset + FrameHeader.Size, header.Length);
                    if (header.Type == FrameType.Pong && BinaryPrimitives.ReadUInt64BigEndian(payload) == sentinel)
                    {
                        return true;
                    }

                    offset += FrameHeader.Size + header.Length;
                }
            }
        }

        return false;
    }

    private static TunnelSessionOptions Options() => new()
    {
        KeepAliveInterval = Timeout.InfiniteTimeSpan,
        Limits = new SessionLimits { InitialStreamWindow = 4096, InitialSessionWindow = 16384, MaxConcurrentStreams = 4, MaxHeaderBytes = 1024 },
    };

    private static byte[] Hello(Random random)
    {
        var features = random.Next(2) == 0 ? SessionFeatures.None : (SessionFeatures)uint.MaxValue;

        // Small windows half the time, so that bodies wait for credit the hostile peer may never grant.
        var limits = random.Next(2) == 0 ? SessionLimits.Default : new SessionLimits { InitialStreamWindow = 4096, InitialSessionWindow = 8192 };
        var hello = new byte[FrameHeader.Size + HelloMessage.Size];
        new FrameHeader(FrameType.Hello, FrameFlags.None, 0, HelloMessage.Size).Write(hello);
        new HelloMessage(1, 1, limits, Guid.Empty, 0, features).Write(hello.AsSpan(FrameHeader.Size));
        return hello;
    }

    private static void WriteFrame(MemoryStream frames, Random random, FrameType[] expected, Func<FrameType, uint> streamIdFor)
    {
        // Now and then any type, even one no version defines; flags beyond the defined one too.
        var type = random.Next(8) switch
        {
            0 => Types[random.Next(Types.Length)],
            1 when random.Next(8) == 0 => (FrameType)random.Next(256),
            _ => expected[random.Next(expected.Length)],
        };
        var flags = random.Next(50) == 0 ? (FrameFlags)random.Next(256) : random.Next(3) == 0 ? FrameFlags.EndStream : FrameFlags.None;
        var payload = random.Next(20) == 0 ? RandomBytes(random, random.Next(0, 64)) : Payload(type, random);
        WriteFrame(frames, type, flags, type is FrameType.Ping or FrameType.Pong or FrameType.Ack or FrameType.GoAway ? 0 : streamIdFor(type), payload);
    }

    private static void WriteFrame(MemoryStream frames, FrameType type, FrameFlags flags, uint streamId, byte[] payload)
    {
        var header = new byte[FrameHeader.Size];
        new FrameHeader(type, flags, streamId, payload.Length).Write(header);
        frames.Write(header);
        frames.Write(payload);
    }

    /// <summary>A payload of the right shape for the type, with values anywhere in their range.</summary>
    private static byte[] Payload(FrameType type, Random random) => type switch
    {
        FrameType.RequestHead => Encode(d => HeadCodec.Write(
            new RequestHead { Method = Pick(random, Methods), PathAndQuery = Pick(random, Paths), Authority = Pick(random, ["", "host", "h\r\nx"]), Headers = Headers(random) }, d)),
        FrameType.ResponseHead => Encode(d => HeadCodec.Write(
            new ResponseHead { StatusCode = random.Next(10) == 0 ? Pick(random, [0, 99, 1000, 65535]) : Pick(random, [100, 101, 103, 200, 204, 304, 404, 500]), Headers = Headers(random) }, d)),
        FrameType.Trailers => Encode(d => HeadCodec.WriteHeaders(Headers(random), d)),
        FrameType.Data => RandomBytes(random, random.Next(4) == 0 ? random.Next(4000, 9000) : random.Next(0, 300)),
        FrameType.Reset => BigEndian((uint)random.Next(0, 16)),
        FrameType.WindowUpdate => BigEndian(random.Next(10) == 0 ? Pick<uint>(random, [0u, int.MaxValue, uint.MaxValue]) : (uint)random.Next(1, 20000)),
        FrameType.Ping or FrameType.Pong => BigEndian(Pick<ulong>(random, [0UL, 1UL, ulong.MaxValue, (ulong)random.NextInt64()])),
        FrameType.Ack => BigEndian(Pick<ulong>(random, [0UL, 1UL, 2UL, 3UL, ulong.MaxValue])),
        FrameType.GoAway => Encode(d => new GoAwayMessage((uint)random.Next(0, 5), (ErrorCode)random.Next(0, 14), Pick(random, ["", "bye", "\u00e9t\u00e9"])).Write(d)),
        FrameType.Hello => Hello(random)[FrameHeader.Size..],
        _ => [],
    };

    private static List<KeyValuePair<string, string>> Headers(Random random)
    {
        var headers = new List<KeyValuePair<string, string>>();
        for (var i = random.Next(0, 5); i > 0; i--)
        {
            headers.Add(new(Pick(random, random.Next(50) == 0 ? BadHeaderNames : HeaderNames), Pick(random, random.Next(50) == 0 ? BadHeaderValues : HeaderValues)));
        }

        return headers;
    }

    private static byte[] Encode(Func<byte[], int> write)
    {
        var buffer = new byte[8192];
        return buffer[..write(buffer)];
    }

    private static byte[] BigEndian(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    private static byte[] BigEndian(ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        return bytes;
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static T Pick<T>(Random random, T[] choices) => choices[random.Next(choices.Length)];
}
