using System.Net.WebSockets;
using WStunnel.Protocol.Session;
using WStunnel.Protocol.Transports;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>
/// An agent made of a bare tunnel session on a WebSocket to the fixture's gateway: the test writes
/// each answer frame by frame, as a misbehaving agent might, where a real agent relays its target.
/// </summary>
internal sealed class ScriptedAgent : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly TunnelSession _session;

    private ScriptedAgent(string token, ClientWebSocket socket, TunnelSession session)
    {
        Token = token;
        _socket = socket;
        _session = session;
    }

    public string Token { get; }

    public static async Task<ScriptedAgent> ConnectAsync(TunnelFixture fixture, Func<TunnelStream, Task> answer)
    {
        var token = "scripted-" + Guid.NewGuid().ToString("N");
        var socket = new ClientWebSocket();
        try
        {
            socket.Options.SetRequestHeader(AgentHeaders.Token, token);
            socket.Options.AddSubProtocol(WebSocketTransport.SubProtocol);
            socket.Options.RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == fixture.Certificate.Server.GetCertHashString();
            await socket.ConnectAsync(new Uri(TunnelFixture.AgentServer(fixture.GatewayAddress), "/_tunnel"), default);
            var session = await TunnelSession.StartAsync(new WebSocketTransport(socket), new TunnelSessionOptions(), SessionRole.Agent, answer, default);
            await TunnelFixture.WaitForRegistrationAsync(fixture.Gateway, token);
            return new ScriptedAgent(token, socket, session);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _session.CloseAsync(TimeSpan.FromSeconds(5));
        await _session.DisposeAsync();
        _socket.Dispose();
    }
}
