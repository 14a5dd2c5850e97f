using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;

namespace WStunnel.Protocol.Tests.Session;

/// <summary>A gateway session and an agent session joined by an in-memory link.</summary>
internal sealed class SessionPair : IAsyncDisposable
{
    public required TunnelSession Gateway { get; init; }

    public required TunnelSession Agent { get; init; }

    public required InMemoryTransport GatewayTransport { get; init; }

    public required InMemoryTransport AgentTransport { get; init; }

    public static async Task<SessionPair> StartAsync(
        Func<TunnelStream, Task> agentHandler, SessionLimits? limits = null, TunnelSessionOptions? gatewayOptions = null, TunnelSessionOptions? agentOptions = null)
    {
        var (gatewayTransport, agentTransport) = InMemoryTransport.CreatePair();
        var options = new TunnelSessionOptions { Limits = limits ?? SessionLimits.Default };
        var gatewayTask = TunnelSession.StartAsync(gatewayTransport, gatewayOptions ?? options, SessionRole.Gateway, null, CancellationToken.None);
        var agentTask = TunnelSession.StartAsync(agentTransport, agentOptions ?? options, SessionRole.Agent, agentHandler, CancellationToken.None);
        return new SessionPair
        {
            Gateway = await gatewayTask,
            Agent = await agentTask,
            GatewayTransport = gatewayTransport,
            AgentTransport = agentTransport,
        };
    }

    /// <summary>Options without keep-alive: the writer sends only what the streams' producers ask for.</summary>
    public static TunnelSessionOptions Quiet { get; } = new() { KeepAliveInterval = Timeout.InfiniteTimeSpan };

    public static RequestHead Get(string path = "/") => new() { Method = "GET", PathAndQuery = path };

    public static async Task<byte[]> ReadToEndAsync(TunnelStream stream, CancellationToken cancellationToken = default)
    {
        using var body = new MemoryStream();
        var buffer = new byte[8192];
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            body.Write(buffer, 0, read);
        }

        return body.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Agent.DisposeAsync();
    }
}
