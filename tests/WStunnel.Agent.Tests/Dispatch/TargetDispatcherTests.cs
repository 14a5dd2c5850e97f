using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using WStunnel.Agent.Dispatch;
using WStunnel.Protocol.Frames;
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

        public static RawTarget Start(string first, Task? later = null, string rest = "")
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return new RawTarget(listener, async l =>
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

                await network.WriteAsync(Encoding.ASCII.GetBytes(first));
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
