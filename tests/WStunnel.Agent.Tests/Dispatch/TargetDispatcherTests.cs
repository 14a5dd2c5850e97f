using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using WStunnel.Agent.Dispatch;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Http;
using WStunnel.Protocol.Session;
using WStunnel.Protocol.Tests.Session;

namespace WStunnel.Agent.Tests.Dispatch;

public sealed class TargetDispatcherTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_small_answer_crosses_the_tunnel_as_one_batch()
    {
        await using var target = RawTarget.Start("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        using var dispatcher = new TargetDispatcher(new WStunnelAgentOptions { Target = target.Address }, NullLogger.Instance);
        await using var pair = await SessionPair.StartAsync(dispatcher.HandleAsync, gatewayOptions: SessionPair.Quiet, agentOptions: SessionPair.Quiet);

        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);
        Assert.Equal(200, (await stream.ResponseHead.WaitAsync(Deadline)).StatusCode);
        Assert.Equal("hello", Encoding.ASCII.GetString(await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline)));

        // Head, body and end of the stream in the same batch: one WebSocket message, one TLS record.
        var batch = Assert.Single(pair.AgentTransport.SentFrames(), frames => frames.Any(f => f.StreamId == stream.Id));
        Assert.Equal(
            [(FrameType.ResponseHead, false), (FrameType.Data, false), (FrameType.Data, true)],
            batch.Where(f => f.StreamId == stream.Id).Select(f => (f.Type, f.EndStream)));
    }

    [Fact]
    public async Task A_response_head_is_not_held_while_the_target_works_on_the_body()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var target = RawTarget.Start("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", release.Task, "late body");
        using var dispatcher = new TargetDispatcher(new WStunnelAgentOptions { Target = target.Address }, NullLogger.Instance);
        await using var pair = await SessionPair.StartAsync(dispatcher.HandleAsync, gatewayOptions: SessionPair.Quiet, agentOptions: SessionPair.Quiet);

        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);

        // The target sent its head and nothing more: the head must cross now, not with the body.
        Assert.Equal(200, (await stream.ResponseHead.WaitAsync(Deadline)).StatusCode);
        release.SetResult();
        Assert.Equal("late body", Encoding.ASCII.GetString(await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline)));
    }

    [Fact]
    public async Task A_target_that_does_not_answer_in_time_gets_the_client_a_504()
    {
        var never = new TaskCompletionSource();
        await using var target = RawTarget.Start("", never.Task);
        var options = new WStunnelAgentOptions { Target = target.Address, TargetResponseTimeout = TimeSpan.FromMilliseconds(300) };
        using var dispatcher = new TargetDispatcher(options, NullLogger.Instance);
        await using var pair = await SessionPair.StartAsync(dispatcher.HandleAsync);

        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);
        Assert.Equal(504, (await stream.ResponseHead.WaitAsync(Deadline)).StatusCode);
        Assert.Contains("did not answer in time", Encoding.UTF8.GetString(await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline)), StringComparison.Ordinal);
        never.SetResult();
    }

    [Fact]
    public async Task An_upgrade_reaches_the_target_as_an_HTTP_1_1_upgrade_and_after_its_101_bytes_flow_both_ways()
    {
        await using var target = RawTarget.Start(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc\r\n\r\n", echo: true);
        using var dispatcher = new TargetDispatcher(new WStunnelAgentOptions { Target = target.Address, TargetHttp2 = true }, NullLogger.Instance);
        await using var pair = await SessionPair.StartAsync(dispatcher.HandleAsync);

        var stream = await pair.Gateway.OpenStreamAsync(Upgrade(), endStream: false, default);
        var head = await stream.ResponseHead.WaitAsync(Deadline);
        Assert.Equal(101, head.StatusCode);
        Assert.Equal("websocket", HttpUpgrade.Of(head.Headers));
        Assert.Contains(new KeyValuePair<string, string>("Sec-WebSocket-Accept", "abc"), head.Headers);

        // HTTP/1.1 even for an agent that speaks HTTP/2 to its target; no body framing of its own.
        var request = await target.Request.WaitAsync(Deadline);
        Assert.StartsWith("GET /chat HTTP/1.1\r\n", request, StringComparison.Ordinal);
        Assert.Contains("Connection: Upgrade\r\n", request, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Upgrade: websocket\r\n", request, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Transfer-Encoding", request, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Content-Length", request, StringComparison.OrdinalIgnoreCase);

        await stream.WriteAsync("ping"u8.ToArray(), default);
        Assert.Equal("ping", Encoding.ASCII.GetString(await ReadExactlyAsync(stream, 4)));

        // The target closes its connection: the stream's response half ends; the gateway then ends its own.
        await stream.WriteAsync("bye"u8.ToArray(), default);
        Assert.Equal("bye", Encoding.ASCII.GetString(await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline)));
        stream.Complete();
        await WaitUntilAsync(() => pair.Agent.ActiveStreams == 0 && pair.Gateway.ActiveStreams == 0);
    }

    [Theory]
    [InlineData("POST", "websocket")]
    [InlineData("GET", "two words")]
    public async Task An_upgrade_that_is_not_a_GET_for_one_protocol_is_refused(string method, string protocol)
    {
        using var dispatcher = new TargetDispatcher(new WStunnelAgentOptions { Target = new Uri("http://127.0.0.1:9") }, NullLogger.Instance);
        await using var pair = await SessionPair.StartAsync(dispatcher.HandleAsync);

        var head = new RequestHead { Method = method, PathAndQuery = "/chat", Headers = [new("Upgrade", protocol)] };
        var stream = await pair.Gateway.OpenStreamAsync(head, endStream: false, default);

        var refused = await Assert.ThrowsAsync<TunnelStreamException>(() => stream.ResponseHead.WaitAsync(Deadline));
        Assert.Equal(ErrorCode.ProtocolError, refused.Code);
    }

    [Fact]
    public async Task A_target_that_switches_protocols_unasked_gets_the_client_a_502()
    {
        await using var target = RawTarget.Start("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
        using var dispatcher = new TargetDispatcher(new WStunnelAgentOptions { Target = target.Address }, NullLogger.Instance);
        await using var pair = await SessionPair.StartAsync(dispatcher.HandleAsync);

        var stream = await pair.Gateway.OpenStreamAsync(SessionPair.Get(), endStream: true, default);
        Assert.Equal(502, (await stream.ResponseHead.WaitAsync(Deadline)).StatusCode);
        Assert.Contains("switched protocols unasked", Encoding.UTF8.GetString(await SessionPair.ReadToEndAsync(stream).WaitAsync(Deadline)), StringComparison.Ordinal);
    }

    private static RequestHead Upgrade() => new() { Method = "GET", PathAndQuery = "/chat", Headers = [new("Upgrade", "websocket"), new("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")] };

    private static async Task<byte[]> ReadExactlyAsync(TunnelStream stream, int count)
    {
        var data = new byte[count];
        for (var read = 0; read < count;)
        {
            read += await stream.ReadAsync(data.AsMemory(read), default).AsTask().WaitAsync(Deadline);
        }

        return data;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 2000 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    /// <summary>
    /// A target on loopback that answers one request with fixed bytes, and optionally more bytes
    /// once <c>later</c> completes: exactly what reaches the agent's socket, and when.
    /// </summary>
    private sealed class RawTarget : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly Task _serving;

        private RawTarget(TcpListener listener, Func<TcpListener, Task> serve)
        {
            _listener = listener;
            _serving = serve(listener);
        }

        public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

        /// <summary>The request head the target received.</summary>
        public Task<string> Request => _request.Task;

        private readonly TaskCompletionSource<string> _request = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <param name="echo">After <paramref name="first"/>, send back whatever arrives (an upgraded connection); close after echoing "bye".</param>
        public static RawTarget Start(string first, Task? later = null, string rest = "", bool echo = false)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            RawTarget? self = null;
            return self = new RawTarget(listener, async l =>
            {
                using var client = await l.AcceptTcpClientAsync();
                var network = client.GetStream();
                var received = new StringBuilder();
                var buffer = new byte[4096];
                while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await network.ReadAsync(buffer);
                    if (read == 0)
                    {
                        return;
                    }

                    received.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                self!._request.TrySetResult(received.ToString());
                await network.WriteAsync(Encoding.ASCII.GetBytes(first));
                if (echo)
                {
                    int count;
                    while ((count = await network.ReadAsync(buffer)) > 0)
                    {
                        await network.WriteAsync(buffer.AsMemory(0, count));
                        if (buffer.AsSpan(0, count).EndsWith("bye"u8))
                        {
                            return;
                        }
                    }

                    return;
                }

                if (later is not null)
                {
                    await later;
                    await network.WriteAsync(Encoding.ASCII.GetBytes(rest));
                }

                // Keep the connection until the agent is done with it.
                while (await network.ReadAsync(buffer) > 0)
                {
                }
            });
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _serving.WaitAsync(Deadline).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }
}
