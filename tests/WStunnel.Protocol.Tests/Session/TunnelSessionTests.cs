using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;

namespace WStunnel.Protocol.Tests.Session;

public sealed class TunnelSessionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    // Windows of a few frames, so that a writer soon waits for credit.
    private static readonly SessionLimits SmallWindows = new() { MaxFramePayload = 4096, InitialStreamWindow = 16 * 1024, InitialSessionWindow = 32 * 1024 };

    private static readonly RequestHead Put = new() { Method = "PUT", PathAndQuery = "/" };

    [Fact]
    public async Task Request_and_response_with_bodies_and_trailers_cross_the_session()
    {
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            var body = await SessionPair.ReadToEndAsync(stream);
            stream.SendResponseHead(new ResponseHead { StatusCode = 201, Headers = [new("x-len", body.Length.ToString())] }, endStream: false);
            await stream.WriteAsync(Encoding.UTF8.GetBytes("echo:"), default);
            await stream.WriteAsync(body, default);
            stream.Complete([new("grpc-status", "0")]);
        });

        var request = new RequestHead { Method = "POST", PathAndQuery = "/upload?x=%2F", Headers = [new("a", "1"), new("a", "2")] };
        var stream = await pair.Gateway.OpenStreamAsync(request, endStream: false, default);
        await stream.WriteAsync(Encoding.UTF8.GetBytes("hello"), default);
        stream.Complete();

        var head = await stream.ResponseHead.WaitAsync(Deadline);
        Assert.Equal(201, head.StatusCode);
        Assert.Equal([new("x-len", "5")], head.Headers);
        Assert.Equal("echo:hello", Encoding.UTF8.GetString(await SessionPair.ReadToEndAsync(stream)));
        Assert.Equal([new("grpc-status", "0")], stream.Trailers);
        await WaitUntil(() => pair.Gateway.ActiveStreams == 0 && pair.Agent.ActiveStreams == 0, "both ends to free the stream");
    }

    [Fact]
    public async Task A_body_larger_than_every_window_streams_through_with_backpressure()
    {
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[3000];
            int read;
            while ((read = await stream.ReadAsync(buffer, default)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }

            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            await stream.WriteAsync(hash.GetHashAndReset(), default);
            stream.Complete();
        }, SmallWindows);

        var payload = RandomNumberGenerator.GetBytes(5 * 1024 * 1024 + 17);
        var stream = await pair.Gateway.OpenStreamAsync(Put, endStream: false, default);
        for (var offset = 0; offset < payload.Length; offset += 100_000)
        {
            await stream.WriteAsync(payload.AsMemory(offset, Math.Min(100_000, payload.Length - offset)), default);
        }

        stream.Complete();
        await stream.ResponseHead.WaitAsync(Deadline);
        Assert.Equal(SHA256.HashData(payload), await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline));
    }

    [Fact]
    public async Task CopyToAsync_writes_a_body_larger_than_the_stream_window_and_returns_its_credit()
    {
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            using var copy = new YieldingStream();
            await stream.CopyToAsync(copy, default);
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            await stream.WriteAsync(SHA256.HashData(copy.ToArray()), default);
            stream.Complete();
        });

        var payload = RandomNumberGenerator.GetBytes(10 * 1024 * 1024 + 5);
        var stream = await pair.Gateway.OpenStreamAsync(Put, endStream: false, default);
        for (var offset = 0; offset < payload.Length; offset += 65536)
        {
            await stream.WriteAsync(payload.AsMemory(offset, Math.Min(65536, payload.Length - offset)), default).AsTask().WaitAsync(Deadline);
        }

        stream.Complete();
        Assert.Equal(SHA256.HashData(payload), await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline));
    }

    [Fact]
    public async Task A_reader_that_stops_reading_stalls_only_its_own_stream()
    {
        var limits = new SessionLimits { InitialStreamWindow = 64 * 1024, InitialSessionWindow = 1024 * 1024 };
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            if (stream.RequestHead!.PathAndQuery == "/big")
            {
                // Far more than the stream window: this writer must block, not buffer.
                var chunk = new byte[16 * 1024];
                while (!stream.Aborted.IsCancellationRequested)
                {
                    await stream.WriteAsync(chunk, stream.Aborted);
                }
            }
            else
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes("small"), default);
                stream.Complete();
            }
        }, limits);

        var big = await pair.Gateway.OpenStreamAsync(SessionPair.Get("/big"), endStream: true, default);
        await big.ResponseHead.WaitAsync(Deadline);
        for (var i = 0; i < 20; i++)
        {
            var small = await pair.Gateway.OpenStreamAsync(SessionPair.Get("/small"), endStream: true, default);
            Assert.Equal("small", Encoding.UTF8.GetString(await SessionPair.ReadToEndAsync(small).WaitAsync(Deadline)));
        }

        big.Reset();
        await WaitUntil(() => pair.Agent.ActiveStreams == 0, "the agent to drop the reset stream");
    }

    [Fact]
    public async Task Two_hundred_concurrent_streams_each_get_their_own_answer()
    {
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            var n = int.Parse(stream.RequestHead!.PathAndQuery.AsSpan(1));
            await Task.Delay(200 - n);
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            await stream.WriteAsync(Encoding.UTF8.GetBytes($"answer {n}"), default);
            stream.Complete();
        });

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(async n =>
        {
            var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get($"/{n}"), endStream: true, default);
            return Encoding.UTF8.GetString(await SessionPair.ReadToEndAsync(stream));
        })).WaitAsync(Deadline);

        Assert.Equal(Enumerable.Range(0, 200).Select(n => $"answer {n}"), results);
    }

    [Fact]
    public async Task A_reset_from_the_gateway_aborts_the_agents_stream()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var pair = await SessionPair.StartAsync(stream =>
        {
            stream.Aborted.Register(() => aborted.TrySetResult());
            return Task.CompletedTask;
        });

        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: false, default);
        stream.Reset(ErrorCode.Cancel);
        await aborted.Task.WaitAsync(Deadline);
        await WaitUntil(() => pair.Agent.ActiveStreams == 0 && pair.Gateway.ActiveStreams == 0, "both ends to free the stream");
    }

    [Fact]
    public async Task A_handler_that_throws_before_its_first_wait_resets_its_stream_and_the_session_serves_on()
    {
        var reported = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var pair = await SessionPair.StartAsync(stream =>
        {
            if (stream.RequestHead!.PathAndQuery == "/throws")
            {
                throw new InvalidOperationException("a handler's bug, quoting secret-header-value");
            }

            stream.SendResponseHead(new ResponseHead { StatusCode = 204 }, endStream: true);
            return Task.CompletedTask;
        }, agentOptions: new TunnelSessionOptions { OnStreamRejected = (_, reason) => reported.TrySetResult(reason) });

        var failing = await pair.Gateway.OpenStreamAsync(SessionPair.Get("/throws"), endStream: true, default);
        var error = await Assert.ThrowsAsync<TunnelStreamException>(() => failing.ResponseHead.WaitAsync(Deadline));
        Assert.Equal(ErrorCode.InternalError, error.Code);
        Assert.Equal("its handler failed (InvalidOperationException)", await reported.Task.WaitAsync(Deadline));

        var next = await pair.Gateway.OpenStreamAsync(SessionPair.Get("/fine"), endStream: true, default);
        Assert.Equal(204, (await next.ResponseHead.WaitAsync(Deadline)).StatusCode);
        await WaitUntil(() => pair.Gateway.ActiveStreams == 0 && pair.Agent.ActiveStreams == 0, "both ends to free both streams");
    }

    [Fact]
    public async Task A_request_waiting_for_a_free_stream_fails_cleanly_when_the_session_ends()
    {
        await using var pair = await SessionPair.StartAsync(_ => Task.CompletedTask, new SessionLimits { MaxConcurrentStreams = 1 });
        await pair.Gateway.OpenStreamAsync(SessionPair.Get("/occupies-the-only-slot"), endStream: true, default);
        var waiting = pair.Gateway.OpenStreamAsync(SessionPair.Get("/waits"), endStream: true, default).AsTask();
        Assert.False(waiting.IsCompleted);

        pair.Gateway.Abort(new IOException("connection lost"));
        var error = await Assert.ThrowsAsync<TunnelStreamException>(() => waiting.WaitAsync(Deadline));
        Assert.Equal(ErrorCode.RefusedStream, error.Code);
    }

    [Theory]
    [InlineData(1, 100)]
    [InlineData(100, 1)]
    public async Task The_gateway_opens_no_more_streams_at_once_than_the_lower_of_both_ends_limits(int gatewayLimit, int agentLimit)
    {
        await using var pair = await SessionPair.StartAsync(_ => Task.CompletedTask,
            gatewayOptions: new TunnelSessionOptions { Limits = new SessionLimits { MaxConcurrentStreams = gatewayLimit } },
            agentOptions: new TunnelSessionOptions { Limits = new SessionLimits { MaxConcurrentStreams = agentLimit } });
        var first = await pair.Gateway.OpenStreamAsync(SessionPair.Get("/occupies-the-only-slot"), endStream: false, default);
        var waiting = pair.Gateway.OpenStreamAsync(SessionPair.Get("/waits"), endStream: true, default).AsTask();
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted);

        first.Reset();
        await waiting.WaitAsync(Deadline);
    }

    [Theory]
    [InlineData("http://internal.example/admin")] // absolute-form
    [InlineData("internal.example:22")] // authority-form
    [InlineData("relative/path")]
    public async Task A_request_head_the_agent_cannot_accept_resets_that_stream_only(string target)
    {
        var rejected = new List<string>();
        var served = 0;
        await using var pair = await SessionPair.StartAsync(stream =>
        {
            Interlocked.Increment(ref served);
            stream.SendResponseHead(new ResponseHead { StatusCode = 204 }, endStream: true);
            return Task.CompletedTask;
        }, agentOptions: new TunnelSessionOptions { OnStreamRejected = (_, reason) => { lock (rejected) { rejected.Add(reason); } } });

        var bad = await pair.Gateway.OpenStreamAsync(new RequestHead { Method = "GET", PathAndQuery = target }, endStream: true, default);
        var error = await Assert.ThrowsAsync<TunnelStreamException>(() => bad.ResponseHead.WaitAsync(Deadline));
        Assert.Equal(ErrorCode.ProtocolError, error.Code);
        Assert.Contains("origin form", Assert.Single(rejected), StringComparison.Ordinal);

        // The session goes on: the next request is served.
        var good = await pair.Gateway.OpenStreamAsync(SessionPair.Get("/fine"), endStream: true, default);
        Assert.Equal(204, (await good.ResponseHead.WaitAsync(Deadline)).StatusCode);
        Assert.Equal(1, served);
        Assert.Null(pair.Agent.Failure);
    }

    [Fact]
    public async Task A_header_value_with_a_line_break_resets_that_stream_and_the_reason_does_not_echo_the_value()
    {
        var rejected = new List<string>();
        await using var pair = await SessionPair.StartAsync(_ => Task.CompletedTask,
            agentOptions: new TunnelSessionOptions { OnStreamRejected = (_, reason) => { lock (rejected) { rejected.Add(reason); } } });

        var smuggling = new RequestHead { Method = "GET", PathAndQuery = "/", Headers = [new("x-note", "secret\r\nHost: other")] };
        var stream = await pair.Gateway.OpenStreamAsync(smuggling, endStream: true, default);
        await Assert.ThrowsAsync<TunnelStreamException>(() => stream.ResponseHead.WaitAsync(Deadline));

        var reason = Assert.Single(rejected);
        Assert.Contains("x-note", reason, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_frame_ends_the_session_with_a_protocol_error()
    {
        await using var pair = await SessionPair.StartAsync(_ => Task.CompletedTask);
        var open = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: false, default);

        // A window update must carry exactly four bytes.
        var bad = new byte[FrameHeader.Size + 3];
        new FrameHeader(FrameType.WindowUpdate, FrameFlags.None, 0, 3).Write(bad);
        pair.GatewayTransport.InjectFromPeer(bad);

        await pair.Gateway.Completion.WaitAsync(Deadline);
        var error = Assert.IsType<TunnelProtocolException>(pair.Gateway.Failure);
        Assert.Equal(ErrorCode.FrameSizeError, error.Code);
        var streamError = await Assert.ThrowsAsync<TunnelStreamException>(() => open.ResponseHead);
        Assert.Contains("lost", streamError.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Trailers_before_the_response_head_end_the_session_with_a_protocol_error_and_fail_the_request()
    {
        var answering = new TaskCompletionSource();
        await using var pair = await SessionPair.StartAsync(_ => answering.Task);
        var open = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);

        // Trailers end a response; without its head the request would wait for one forever.
        var trailers = new byte[FrameHeader.Size + 1]; // no trailer fields: a count of zero
        new FrameHeader(FrameType.Trailers, FrameFlags.EndStream, open.Id, 1).Write(trailers);
        pair.GatewayTransport.InjectFromPeer(trailers);

        await pair.Gateway.Completion.WaitAsync(Deadline);
        var error = Assert.IsType<TunnelProtocolException>(pair.Gateway.Failure);
        Assert.Equal(ErrorCode.ProtocolError, error.Code);
        Assert.Contains("trailers before the response head", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<TunnelStreamException>(() => open.ResponseHead.WaitAsync(Deadline));
        answering.SetResult();
    }

    [Fact]
    public async Task Data_beyond_the_granted_window_is_a_flow_control_error()
    {
        var limits = new SessionLimits { InitialStreamWindow = 4096 };
        await using var pair = await SessionPair.StartAsync(_ => Task.CompletedTask, limits);
        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);
        var head = new byte[64];
        var headLength = HeadCodec.Write(new ResponseHead { StatusCode = 200 }, head);
        var frames = new byte[FrameHeader.Size + headLength + FrameHeader.Size + 5000];
        new FrameHeader(FrameType.ResponseHead, FrameFlags.None, stream.Id, headLength).Write(frames);
        head.AsSpan(0, headLength).CopyTo(frames.AsSpan(FrameHeader.Size));
        new FrameHeader(FrameType.Data, FrameFlags.None, stream.Id, 5000).Write(frames.AsSpan(FrameHeader.Size + headLength));
        pair.GatewayTransport.InjectFromPeer(frames);

        await pair.Gateway.Completion.WaitAsync(Deadline);
        Assert.Equal(ErrorCode.FlowControlError, Assert.IsType<TunnelProtocolException>(pair.Gateway.Failure).Code);
    }

    [Fact]
    public async Task A_silent_peer_is_declared_gone_after_the_keep_alive_timeout()
    {
        var time = new FakeTimeProvider();
        var (gateway, gatewayTransport, agentTransport) = await GatewayWithSilentAgentAsync(time);
        await using var _ = gateway;

        for (var i = 0; i < 4 && !gateway.Completion.IsCompleted; i++)
        {
            await Task.Delay(20);
            time.Advance(TimeSpan.FromSeconds(10));
        }

        await gateway.Completion.WaitAsync(Deadline);
        Assert.IsType<TimeoutException>(gateway.Failure);
        lock (gatewayTransport.Sent)
        {
            Assert.Contains(gatewayTransport.Sent, batch => batch[0] == (byte)FrameType.Ping);
        }

        GC.KeepAlive(agentTransport);
    }

    [Fact]
    public async Task A_session_holds_one_keep_alive_timer_while_it_lives_and_none_after_it_ends()
    {
        var time = new CountingTimeProvider();
        var (gateway, _, agentTransport) = await GatewayWithSilentAgentAsync(time);

        // The timer must not outlive the session: it would keep the session reachable forever.
        Assert.Equal(1, time.ActiveTimers);
        await gateway.DisposeAsync();
        Assert.Equal(0, time.ActiveTimers);
        GC.KeepAlive(agentTransport);
    }

    [Fact]
    public async Task Sessions_on_one_clock_share_one_keep_alive_timer_and_each_is_still_checked()
    {
        var time = new CountingTimeProvider();
        var sessions = new List<(TunnelSession Gateway, InMemoryTransport GatewayTransport, InMemoryTransport AgentTransport)>();
        for (var i = 0; i < 3; i++)
        {
            sessions.Add(await GatewayWithSilentAgentAsync(time));
            time.Advance(TimeSpan.FromSeconds(1)); // each joins a different slot of the schedule
        }

        try
        {
            Assert.Equal(1, time.ActiveTimers);
            for (var i = 0; i < 10 && sessions.Any(s => !s.Gateway.Completion.IsCompleted); i++)
            {
                await Task.Delay(20);
                time.Advance(TimeSpan.FromSeconds(5));
            }

            foreach (var (gateway, gatewayTransport, _) in sessions)
            {
                await gateway.Completion.WaitAsync(Deadline);
                Assert.IsType<TimeoutException>(gateway.Failure);
                lock (gatewayTransport.Sent)
                {
                    Assert.Contains(gatewayTransport.Sent, batch => batch[0] == (byte)FrameType.Ping);
                }
            }

            Assert.Equal(0, time.ActiveTimers); // the timer went with the last session
        }
        finally
        {
            await DisposeAllAsync(sessions);
        }
    }

    [Fact]
    public async Task A_lone_session_wakes_the_keep_alive_timer_once_an_interval_not_once_a_slot()
    {
        var time = new CountingTimeProvider();
        var (gateway, _, agentTransport) = await GatewayWithSilentAgentAsync(time); // keep-alive every 10 s
        await using var _ = gateway;

        for (var i = 0; i < 32; i++)
        {
            time.Advance(TimeSpan.FromSeconds(10) / 16); // two intervals, slot by slot
        }

        Assert.Equal(2, time.TimerCallbacks); // its slot's tick in each interval (sixteen an interval before)
        GC.KeepAlive(agentTransport);
    }

    [Fact]
    public async Task Sessions_that_start_at_different_times_are_checked_at_different_ticks()
    {
        var time = new CountingTimeProvider();
        var sessions = new List<(TunnelSession Gateway, InMemoryTransport GatewayTransport, InMemoryTransport AgentTransport)>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                sessions.Add(await GatewayWithSilentAgentAsync(time));
                time.Advance(TimeSpan.FromSeconds(10) / 16); // the next one joins the next slot
            }

            var before = time.TimerCallbacks;
            for (var i = 0; i < 16; i++)
            {
                time.Advance(TimeSpan.FromSeconds(10) / 16); // one interval
            }

            Assert.Equal(3, time.TimerCallbacks - before); // three slots with a session each: their pings stay spread
        }
        finally
        {
            await DisposeAllAsync(sessions);
        }
    }

    [Fact]
    public async Task A_peer_that_drops_the_connection_while_this_end_closes_ends_the_session_without_a_failure()
    {
        var (gatewayTransport, agentTransport) = InMemoryTransport.CreatePair();
        var gatewayStarting = TunnelSession.StartAsync(gatewayTransport, SessionPair.Quiet, SessionRole.Gateway, null, default);
        var agent = await TunnelSession.StartAsync(new DroppedOnCloseTransport(agentTransport, gatewayTransport.Abort), SessionPair.Quiet, SessionRole.Agent, _ => Task.CompletedTask, default);
        await using var gateway = await gatewayStarting;

        await agent.CloseAsync(TimeSpan.FromSeconds(5)).WaitAsync(Deadline);

        await agent.Completion.WaitAsync(Deadline);
        Assert.Null(agent.Failure); // the agent's own planned close, not a lost connection
    }

    [Fact]
    public async Task A_connection_lost_while_streams_drain_before_a_close_is_still_a_failure()
    {
        var (gatewayTransport, agentTransport) = InMemoryTransport.CreatePair();
        var gatewayStarting = TunnelSession.StartAsync(gatewayTransport, SessionPair.Quiet, SessionRole.Gateway, null, default);
        var handling = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var agent = await TunnelSession.StartAsync(agentTransport, SessionPair.Quiet, SessionRole.Agent, _ =>
            {
                handling.TrySetResult();
                return Task.Delay(Timeout.Infinite); // a request that does not finish
            }, default);
        await using var gateway = await gatewayStarting;
        _ = await gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);
        await handling.Task.WaitAsync(Deadline);

        var closing = agent.CloseAsync(TimeSpan.FromSeconds(30));
        gatewayTransport.Abort(); // lost with a request in flight

        await agent.Completion.WaitAsync(Deadline);
        Assert.NotNull(agent.Failure);
        await closing.WaitAsync(Deadline);
    }

    private static async Task DisposeAllAsync(List<(TunnelSession Gateway, InMemoryTransport GatewayTransport, InMemoryTransport AgentTransport)> sessions)
    {
        foreach (var (gateway, _, agentTransport) in sessions)
        {
            await gateway.DisposeAsync();
            GC.KeepAlive(agentTransport);
        }
    }

    /// <summary>A gateway session (keep-alive every 10 s, timeout 30 s) whose agent answers the handshake and then falls silent: it never reads again.</summary>
    private static async Task<(TunnelSession Gateway, InMemoryTransport GatewayTransport, InMemoryTransport AgentTransport)> GatewayWithSilentAgentAsync(TimeProvider time)
    {
        var (gatewayTransport, agentTransport) = InMemoryTransport.CreatePair();
        var options = new TunnelSessionOptions { KeepAliveInterval = TimeSpan.FromSeconds(10), KeepAliveTimeout = TimeSpan.FromSeconds(30), TimeProvider = time };
        var agentHello = new byte[FrameHeader.Size + HelloMessage.Size];
        new FrameHeader(FrameType.Hello, FrameFlags.None, 0, HelloMessage.Size).Write(agentHello);
        new HelloMessage(1, 1, SessionLimits.Default, Guid.Empty, 0).Write(agentHello.AsSpan(FrameHeader.Size));
        gatewayTransport.InjectFromPeer(agentHello);
        var gateway = await TunnelSession.StartAsync(gatewayTransport, options, SessionRole.Gateway, null, default);
        return (gateway, gatewayTransport, agentTransport);
    }

    /// <summary>A fake clock that counts the timers created on it and not yet disposed, and how often they fired.</summary>
    private sealed class CountingTimeProvider : FakeTimeProvider
    {
        private int _active;
        private int _fired;

        public int ActiveTimers => Volatile.Read(ref _active);

        public int TimerCallbacks => Volatile.Read(ref _fired);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref _active);
            return new CountedTimer(base.CreateTimer(s =>
            {
                Interlocked.Increment(ref _fired);
                callback(s);
            }, state, dueTime, period), this);
        }

        private sealed class CountedTimer(ITimer timer, CountingTimeProvider owner) : ITimer
        {
            private int _disposed;

            public bool Change(TimeSpan dueTime, TimeSpan period) => timer.Change(dueTime, period);

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref owner._active);
                }

                timer.Dispose();
            }

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }

    [Fact]
    public async Task Each_end_learns_the_features_the_other_announced()
    {
        await using var pair = await SessionPair.StartAsync(_ => Task.CompletedTask,
            gatewayOptions: new TunnelSessionOptions(), agentOptions: new TunnelSessionOptions { Features = SessionFeatures.Upgrades });

        Assert.Equal(SessionFeatures.Upgrades, pair.Gateway.PeerFeatures);
        Assert.Equal(SessionFeatures.None, pair.Agent.PeerFeatures);
    }

    [Fact]
    public async Task An_agent_of_the_first_version_whose_hello_has_no_features_is_taken_as_announcing_none()
    {
        var (gatewayTransport, _) = InMemoryTransport.CreatePair();
        var hello = new byte[FrameHeader.Size + HelloMessage.BaseSize];
        new FrameHeader(FrameType.Hello, FrameFlags.None, 0, HelloMessage.BaseSize).Write(hello);
        var full = new byte[HelloMessage.Size];
        new HelloMessage(1, 1, SessionLimits.Default, Guid.Empty, 0, SessionFeatures.Upgrades).Write(full);
        full.AsSpan(0, HelloMessage.BaseSize).CopyTo(hello.AsSpan(FrameHeader.Size));
        gatewayTransport.InjectFromPeer(hello);

        await using var gateway = await TunnelSession.StartAsync(gatewayTransport, new TunnelSessionOptions(), SessionRole.Gateway, null, default);
        Assert.Equal(SessionFeatures.None, gateway.PeerFeatures);
    }

    [Fact]
    public async Task A_peer_without_a_common_version_is_refused_at_the_handshake()
    {
        var (gatewayTransport, _) = InMemoryTransport.CreatePair();
        var hello = new byte[FrameHeader.Size + HelloMessage.Size];
        new FrameHeader(FrameType.Hello, FrameFlags.None, 0, HelloMessage.Size).Write(hello);
        new HelloMessage(7, 9, SessionLimits.Default, Guid.Empty, 0).Write(hello.AsSpan(FrameHeader.Size));
        gatewayTransport.InjectFromPeer(hello);

        var error = await Assert.ThrowsAsync<TunnelProtocolException>(() =>
            TunnelSession.StartAsync(gatewayTransport, new TunnelSessionOptions(), SessionRole.Gateway, null, default));
        Assert.Equal(ErrorCode.UnsupportedVersion, error.Code);
        Assert.Contains("7..9", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_gateway_is_established_before_it_answers_the_agents_hello()
    {
        var (gatewayTransport, agentTransport) = InMemoryTransport.CreatePair();
        var sentBeforeEstablished = -1;
        var gatewayTask = TunnelSession.StartAsync(gatewayTransport, new TunnelSessionOptions(), SessionRole.Gateway, null, default,
            _ =>
            {
                lock (gatewayTransport.Sent)
                {
                    sentBeforeEstablished = gatewayTransport.Sent.Count;
                }
            });
        await using var agent = await TunnelSession.StartAsync(agentTransport, new TunnelSessionOptions(), SessionRole.Agent, _ => Task.CompletedTask, default);
        await using var gateway = await gatewayTask;

        // When the agent saw the gateway's hello, the gateway had already run its "established" step.
        Assert.Equal(0, sentBeforeEstablished);
        Assert.Equal(gateway.SessionId, agent.SessionId);
    }

    [Fact]
    public async Task A_session_resumes_on_a_new_connection_and_its_streams_complete_exactly_once()
    {
        var resumable = new TunnelSessionOptions { ResumeWindow = TimeSpan.FromSeconds(20), Limits = new SessionLimits { InitialStreamWindow = 256 * 1024 } };
        var (gatewayLink, agentLink) = InMemoryTransport.CreatePair();
        var answered = 0;
        Func<TunnelStream, Task> echo = async stream =>
        {
            Interlocked.Increment(ref answered);
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            var buffer = new byte[10_000];
            int read;
            while ((read = await stream.ReadAsync(buffer, default)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read), default);
            }

            stream.Complete();
        };
        var gatewayStart = TunnelSession.StartAsync(gatewayLink, resumable, SessionRole.Gateway, null, default);
        await using var agent = await TunnelSession.StartAsync(agentLink, resumable, SessionRole.Agent, echo, default);
        await using var gateway = await gatewayStart;

        var payload = RandomNumberGenerator.GetBytes(3_000_000);
        var stream = await gateway.OpenStreamAsync(new RequestHead { Method = "POST", PathAndQuery = "/echo" }, endStream: false, default);
        var upload = Task.Run(async () =>
        {
            for (var offset = 0; offset < payload.Length; offset += 50_000)
            {
                await stream.WriteAsync(payload.AsMemory(offset, 50_000), default);
            }

            stream.Complete();
        });
        await stream.ResponseHead.WaitAsync(Deadline);
        var echoed = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (echoed.Length < 1_000_000)
        {
            echoed.Write(chunk, 0, await stream.ReadAsync(chunk, default));
        }

        // The link breaks mid-stream: both ends detach and keep their streams.
        gatewayLink.Abort();
        await WaitUntil(() => gateway.IsDetached && agent.IsDetached, "both ends to detach");

        var (newGatewayLink, newAgentLink) = InMemoryTransport.CreatePair();
        var gatewayResume = TunnelSession.StartAsync(newGatewayLink, resumable, SessionRole.Gateway, null, default, findResumable: id => id == gateway.SessionId ? gateway : null);
        var resumedAgent = await TunnelSession.StartAsync(newAgentLink, resumable, SessionRole.Agent, echo, default, resume: agent);
        var resumedGateway = await gatewayResume;
        Assert.Same(agent, resumedAgent);
        Assert.Same(gateway, resumedGateway);

        int read;
        while ((read = await stream.ReadAsync(chunk, default).AsTask().WaitAsync(Deadline)) > 0)
        {
            echoed.Write(chunk, 0, read);
        }

        await upload.WaitAsync(Deadline);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed.ToArray()));
        Assert.Equal(1, answered);
        Assert.Equal(1, gateway.Resumptions);
        Assert.Equal(1, agent.Resumptions);
    }

    [Fact]
    public async Task A_session_not_resumed_within_the_window_fails_its_streams()
    {
        var time = new FakeTimeProvider();
        var resumable = new TunnelSessionOptions { ResumeWindow = TimeSpan.FromSeconds(30), TimeProvider = time, KeepAliveInterval = Timeout.InfiniteTimeSpan };
        var (gatewayLink, agentLink) = InMemoryTransport.CreatePair();
        var gatewayStart = TunnelSession.StartAsync(gatewayLink, resumable, SessionRole.Gateway, null, default);
        await using var agent = await TunnelSession.StartAsync(agentLink, resumable, SessionRole.Agent, _ => Task.CompletedTask, default);
        await using var gateway = await gatewayStart;
        var stream = await gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);

        gatewayLink.Abort();
        await WaitUntil(() => gateway.IsDetached, "the gateway to detach");
        Assert.False(stream.ResponseHead.IsCompleted);

        // The expiry timer starts just after the detach becomes visible: step time until it has fired.
        for (var i = 0; i < 100 && !stream.ResponseHead.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(31));
            await Task.Delay(10);
        }

        var error = await Assert.ThrowsAsync<TunnelStreamException>(() => stream.ResponseHead.WaitAsync(Deadline));
        Assert.Contains("not resumed within 30 s", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_agent_whose_session_the_gateway_no_longer_has_starts_a_new_one_and_fails_the_old_streams()
    {
        var resumable = new TunnelSessionOptions { ResumeWindow = TimeSpan.FromSeconds(20) };
        var (gatewayLink, agentLink) = InMemoryTransport.CreatePair();
        var agentStreams = new List<TunnelStream>();
        var gatewayStart = TunnelSession.StartAsync(gatewayLink, resumable, SessionRole.Gateway, null, default);
        await using var agent = await TunnelSession.StartAsync(agentLink, resumable, SessionRole.Agent, s =>
        {
            lock (agentStreams)
            {
                agentStreams.Add(s);
            }

            return Task.CompletedTask;
        }, default);
        await using var gateway = await gatewayStart;
        await gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);
        await WaitUntil(() => agentStreams.Count == 1, "the agent to get the stream");

        gatewayLink.Abort();
        await WaitUntil(() => agent.IsDetached, "the agent to detach");

        // A restarted gateway knows no session: the agent gets a fresh one.
        var (newGatewayLink, newAgentLink) = InMemoryTransport.CreatePair();
        var freshGateway = TunnelSession.StartAsync(newGatewayLink, resumable, SessionRole.Gateway, null, default, findResumable: _ => null);
        await using var fresh = await TunnelSession.StartAsync(newAgentLink, resumable, SessionRole.Agent, _ => Task.CompletedTask, default, resume: agent);
        await using var freshGatewaySession = await freshGateway;

        Assert.NotSame(agent, fresh);
        Assert.NotEqual(agent.SessionId, fresh.SessionId);
        await agent.Completion.WaitAsync(Deadline);
        Assert.True(agentStreams[0].Aborted.IsCancellationRequested);
    }

    [Fact]
    public async Task Acknowledgements_follow_the_frames_received()
    {
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            for (var i = 0; i < 100; i++)
            {
                await stream.WriteAsync(new byte[10], default);
            }

            stream.Complete();
        });

        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);
        Assert.Equal(1000, (await SessionPair.ReadToEndAsync(stream)).Length);
        await WaitUntil(() => pair.Agent.PeerAcknowledged >= 64, "the gateway to acknowledge the agent's frames");
    }

    [Fact]
    public async Task A_held_response_head_leaves_with_its_body_and_end_in_one_batch()
    {
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false, flush: false);
            await Task.Delay(50); // a writer woken by the head would have sent it alone by now
            await stream.WriteAsync(Encoding.UTF8.GetBytes("small"), default, flush: false);
            stream.Complete();
        }, gatewayOptions: SessionPair.Quiet, agentOptions: SessionPair.Quiet);

        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);
        Assert.Equal(200, (await stream.ResponseHead.WaitAsync(Deadline)).StatusCode);
        Assert.Equal("small", Encoding.UTF8.GetString(await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline)));

        var batch = Assert.Single(pair.AgentTransport.SentFrames(), frames => frames.Any(f => f.Type == FrameType.ResponseHead));
        Assert.Equal(
            [(FrameType.ResponseHead, false), (FrameType.Data, false), (FrameType.Data, true)],
            batch.Where(f => f.StreamId == stream.Id).Select(f => (f.Type, f.EndStream)));
    }

    [Fact]
    public async Task A_lone_request_leaves_on_the_opening_thread_before_OpenStreamAsync_returns()
    {
        await using var pair = await SessionPair.StartAsync(stream =>
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = 204 }, endStream: true);
            return Task.CompletedTask;
        }, gatewayOptions: SessionPair.Quiet, agentOptions: SessionPair.Quiet);
        await WaitUntil(() => pair.Gateway.WriterIdle, "the gateway's write loop to wait for work");

        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);

        var sent = pair.GatewayTransport.SentOn(frames => frames.Any(f => f.Type == FrameType.RequestHead && f.StreamId == stream.Id));
        Assert.Equal(Environment.CurrentManagedThreadId, sent);
        Assert.Equal(204, (await stream.ResponseHead.WaitAsync(Deadline)).StatusCode);
    }

    [Fact]
    public async Task A_response_head_is_delivered_after_the_body_that_came_with_it()
    {
        var respond = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            await respond.Task;
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false, flush: false);
            await stream.WriteAsync(Encoding.UTF8.GetBytes("small"), default, flush: false);
            stream.Complete();
        }, gatewayOptions: SessionPair.Quiet, agentOptions: SessionPair.Quiet);
        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);
        var buffer = new byte[64];
        var firstRead = Task.FromResult(0);

        // Runs on the thread that delivers the head, at that moment: the body must already be readable.
        var bodyWasThere = stream.ResponseHead.ContinueWith(
            _ => (firstRead = stream.ReadAsync(buffer, default).AsTask()).IsCompleted,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        respond.SetResult();

        Assert.True(await bodyWasThere.WaitAsync(Deadline));
        Assert.Equal("small", Encoding.UTF8.GetString(buffer, 0, await firstRead));
    }

    [Fact]
    public async Task A_lone_request_is_served_once_the_body_that_came_with_its_head_is_read()
    {
        var bodyWasThere = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var pair = await SessionPair.StartAsync(stream =>
        {
            bodyWasThere.TrySetResult(stream.ReadAsync(new byte[64], default).AsTask().IsCompleted);
            return Task.CompletedTask;
        }, gatewayOptions: SessionPair.Quiet, agentOptions: SessionPair.Quiet);

        // Head and body in one batch, as a gateway sends a small request that was whole when it came.
        var head = new byte[256];
        var headLength = HeadCodec.Write(new RequestHead { Method = "POST", PathAndQuery = "/" }, head);
        var frames = new byte[FrameHeader.Size + headLength + FrameHeader.Size + 5];
        new FrameHeader(FrameType.RequestHead, FrameFlags.None, 1, headLength).Write(frames);
        head.AsSpan(0, headLength).CopyTo(frames.AsSpan(FrameHeader.Size));
        new FrameHeader(FrameType.Data, FrameFlags.EndStream, 1, 5).Write(frames.AsSpan(FrameHeader.Size + headLength));
        "hello"u8.CopyTo(frames.AsSpan(FrameHeader.Size + headLength + FrameHeader.Size));
        pair.AgentTransport.InjectFromPeer(frames);

        Assert.True(await bodyWasThere.Task.WaitAsync(Deadline));
    }

    [Fact]
    public async Task A_held_response_head_leaves_when_the_stream_is_flushed()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = 202 }, endStream: false, flush: false);
            stream.Flush();
            await release.Task;
            stream.Complete();
        }, gatewayOptions: SessionPair.Quiet, agentOptions: SessionPair.Quiet);

        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);

        // The body has not even begun: only the flush can have sent the head.
        Assert.Equal(202, (await stream.ResponseHead.WaitAsync(Deadline)).StatusCode);
        release.SetResult();
        Assert.Empty(await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline));
    }

    [Fact]
    public async Task Held_data_is_sent_before_the_writer_waits_for_credit()
    {
        // Without flushing, a body beyond the window would wait for credit the gateway can only
        // grant for bytes it received: both ends would wait for ever.
        var body = RandomNumberGenerator.GetBytes(200 * 1024);
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false, flush: false);
            await stream.WriteAsync(body, default, flush: false);
            stream.Complete();
        }, SmallWindows);

        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);
        Assert.Equal(body, await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline));
    }

    [Fact]
    public async Task A_writer_whose_wait_for_credit_was_cancelled_can_wait_again()
    {
        var startReading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            await startReading.Task;
            var body = await SessionPair.ReadToEndAsync(stream);
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            await stream.WriteAsync(SHA256.HashData(body), default);
            stream.Complete();
        }, SmallWindows);

        var payload = RandomNumberGenerator.GetBytes(256 * 1024);
        var stream = await pair.Gateway.OpenStreamAsync(Put, endStream: false, default);
        await stream.WriteAsync(payload.AsMemory(0, 16 * 1024), default); // the whole stream window; the agent reads nothing yet
        using (var impatient = new CancellationTokenSource(TimeSpan.FromMilliseconds(100)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stream.WriteAsync(payload.AsMemory(16 * 1024, 1), impatient.Token).AsTask());
        }

        startReading.SetResult();
        await stream.WriteAsync(payload.AsMemory(16 * 1024), default).AsTask().WaitAsync(Deadline);
        stream.Complete();
        Assert.Equal(SHA256.HashData(payload), await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline));
    }

    [Fact]
    public async Task A_writer_waiting_for_credit_fails_when_the_peer_resets_the_stream()
    {
        var reset = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            await reset.Task;
            stream.Reset(ErrorCode.Cancel);
        }, SmallWindows);

        var stream = await pair.Gateway.OpenStreamAsync(Put, endStream: false, default);
        await stream.WriteAsync(new byte[16 * 1024], default);
        var waiting = stream.WriteAsync(new byte[1], default).AsTask();
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted, "the write should wait for credit");

        reset.SetResult();
        await Assert.ThrowsAsync<TunnelStreamException>(() => waiting.WaitAsync(Deadline));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_agent_that_answers_without_the_request_body_stops_the_gateways_writer_behind_its_answer(bool closeReadFirst)
    {
        // As a target answering 401 or 413 before the upload: the gateway's writer, waiting for credit
        // the agent will never grant, must end — and the answer, already on its way, must stand.
        var answer = RandomNumberGenerator.GetBytes(40 * 1024);
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            if (closeReadFirst)
            {
                stream.CloseRead();
            }

            stream.SendResponseHead(new ResponseHead { StatusCode = 401 }, endStream: false, flush: false);
            await stream.WriteAsync(answer, default, flush: false);
            stream.Complete();
            stream.CloseRead();
        }, SmallWindows);

        var stream = await pair.Gateway.OpenStreamAsync(Put, endStream: false, default);
        var upload = Task.Run(async () =>
        {
            var piece = new byte[8192];
            while (true)
            {
                await stream.WriteAsync(piece, default);
            }
        });

        Assert.Equal(401, (await stream.ResponseHead.WaitAsync(Deadline)).StatusCode);
        Assert.Equal(answer, await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline));
        var stopped = await Assert.ThrowsAsync<TunnelStreamException>(() => upload.WaitAsync(Deadline));
        Assert.Equal(ErrorCode.NoError, stopped.Code);
        Assert.True(stream.StoppedByPeer);
        stream.CloseRead();
        await WaitUntil(() => pair.Gateway.ActiveStreams == 0 && pair.Agent.ActiveStreams == 0, "both ends to free the stream");
    }

    private static readonly TunnelSessionOptions WithExpectContinue = new() { Features = SessionFeatures.ExpectContinue };

    private static RequestHead PutExpectingContinue => new() { Method = "PUT", PathAndQuery = "/", Headers = [new("Expect", "100-continue")] };

    [Fact]
    public async Task A_body_waiting_for_100_continue_is_sent_once_the_agent_asks_for_it()
    {
        var asked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var pair = await SessionPair.StartAsync(async stream =>
        {
            Assert.True(stream.WaitsForContinue);
            await asked.Task;
            stream.SendContinue();
            var body = await SessionPair.ReadToEndAsync(stream);
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: false);
            await stream.WriteAsync(body, default);
            stream.Complete();
        }, gatewayOptions: WithExpectContinue, agentOptions: WithExpectContinue);

        var stream = await pair.Gateway.OpenStreamAsync(PutExpectingContinue, endStream: false, default);
        Assert.True(stream.HoldsBody);
        await Task.Delay(100);
        Assert.False(stream.BodyWanted.IsCompleted, "the body must wait until the agent asks for it");

        asked.SetResult();
        Assert.True(await stream.BodyWanted.WaitAsync(Deadline));
        await stream.WriteAsync("payload"u8.ToArray(), default);
        stream.Complete();
        Assert.Equal("payload", Encoding.UTF8.GetString(await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline)));
    }

    [Fact]
    public async Task A_body_waiting_for_100_continue_is_not_wanted_when_the_answer_comes_first()
    {
        await using var pair = await SessionPair.StartAsync(stream =>
        {
            stream.SendResponseHead(new ResponseHead { StatusCode = 417 }, endStream: true);
            stream.CloseRead();
            return Task.CompletedTask;
        }, gatewayOptions: WithExpectContinue, agentOptions: WithExpectContinue);

        var stream = await pair.Gateway.OpenStreamAsync(PutExpectingContinue, endStream: false, default);
        Assert.Equal(417, (await stream.ResponseHead.WaitAsync(Deadline)).StatusCode);
        Assert.False(await stream.BodyWanted.WaitAsync(Deadline));
        stream.TryComplete();
        stream.CloseRead();
        await WaitUntil(() => pair.Gateway.ActiveStreams == 0 && pair.Agent.ActiveStreams == 0, "both ends to free the stream");
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task A_body_is_not_held_unless_both_ends_announced_100_continue(bool gatewayAnnounces, bool agentAnnounces)
    {
        var waits = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var pair = await SessionPair.StartAsync(stream =>
        {
            waits.TrySetResult(stream.WaitsForContinue);
            stream.SendResponseHead(new ResponseHead { StatusCode = 200 }, endStream: true);
            stream.CloseRead();
            return Task.CompletedTask;
        }, gatewayOptions: gatewayAnnounces ? WithExpectContinue : new(), agentOptions: agentAnnounces ? WithExpectContinue : new());

        var stream = await pair.Gateway.OpenStreamAsync(PutExpectingContinue, endStream: false, default);
        Assert.False(stream.HoldsBody);
        Assert.True(stream.BodyWanted.IsCompletedSuccessfully);
        Assert.True(await stream.BodyWanted);
        Assert.False(await waits.Task.WaitAsync(Deadline));
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }

    // A destination whose writes complete later, as a socket's do: the reader holds the stream's
    // buffers while the session delivers more into them.
    private sealed class YieldingStream : MemoryStream
    {
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            await base.WriteAsync(buffer, cancellationToken);
        }
    }
}
