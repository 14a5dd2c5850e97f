using System.Threading.Channels;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;
using WStunnel.Protocol.Transports;

namespace WStunnel.Server.Tests.Registry;

/// <summary>Real gateway sessions over an in-memory link, for tests that need one to hand out.</summary>
internal static class SessionFactory
{
    /// <param name="agent">What the agent end does with each stream the gateway opens; by default nothing.</param>
    /// <param name="agentFeatures">What the agent end announces.</param>
    public static async Task<TunnelSession> AvailableSessionAsync(Func<TunnelStream, Task>? agent = null, SessionFeatures agentFeatures = SessionFeatures.None)
    {
        var toGateway = Channel.CreateUnbounded<byte[]>();
        var toAgent = Channel.CreateUnbounded<byte[]>();
        var gateway = TunnelSession.StartAsync(new ChannelTransport(toGateway, toAgent), new TunnelSessionOptions(), SessionRole.Gateway, null, default);
        _ = await TunnelSession.StartAsync(new ChannelTransport(toAgent, toGateway), new TunnelSessionOptions { Features = agentFeatures }, SessionRole.Agent, agent ?? (_ => Task.CompletedTask), default);
        return await gateway;
    }

    private sealed class ChannelTransport(Channel<byte[]> inbound, Channel<byte[]> outbound) : ITunnelTransport
    {
        private byte[]? _current;
        private int _offset;

        public string Name => "memory";

        public ValueTask SendAsync(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken) => outbound.Writer.WriteAsync(batch.ToArray(), cancellationToken);

        public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            if (_current is null || _offset == _current.Length)
            {
                _current = await inbound.Reader.ReadAsync(cancellationToken);
                _offset = 0;
            }

            var count = Math.Min(buffer.Length, _current.Length - _offset);
            _current.AsSpan(_offset, count).CopyTo(buffer.Span);
            _offset += count;
            return count;
        }

        public Task CloseAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void Abort() => outbound.Writer.TryComplete();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
