using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server.Registry;
using static WStunnel.EndToEnd.Tests.Infrastructure.Eventually;

namespace WStunnel.EndToEnd.Tests;

/// <summary>A client's WebSocket to the hidden server passes through the tunnel, over HTTP/1.1 and HTTP/2 alike.</summary>
public abstract class ClientWebSocketTests(TunnelFixture fixture)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task Messages_cross_both_ways_and_the_client_closes_cleanly(string version)
    {
        var id = Guid.NewGuid().ToString("N");
        using var socket = await ConnectAsync($"/_token/{fixture.Token}/ws/echo/{id}?q=1", Version.Parse(version));
        Assert.Equal($"/ws/echo/{id}?q=1", fixture.Backend.WebSocketTargets[id]);

        await socket.SendAsync("hello through the tunnel"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, default);
        var (type, text) = await ReceiveMessageAsync(socket);
        Assert.Equal(WebSocketMessageType.Text, type);
        Assert.Equal("hello through the tunnel", Encoding.UTF8.GetString(text));

        // A message larger than the tunnel's frames and windows, in pieces, comes back whole.
        var large = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        var sending = SendInPiecesAsync(socket, large, 100_000);
        var (largeType, echoed) = await ReceiveMessageAsync(socket);
        await sending;
        Assert.Equal(WebSocketMessageType.Binary, largeType);
        Assert.Equal(SHA256.HashData(large), SHA256.HashData(echoed));

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", default).WaitAsync(Patience);
        Assert.Equal(WebSocketState.Closed, socket.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        await StreamsEndOnBothSidesAsync();
    }

    [Fact]
    public async Task The_hidden_server_closing_the_WebSocket_reaches_the_client_with_its_status()
    {
        using var socket = await ConnectAsync($"/_token/{fixture.Token}/ws/goodbye");

        var (_, text) = await ReceiveMessageAsync(socket);
        Assert.Equal("goodbye", Encoding.UTF8.GetString(text));
        var close = await socket.ReceiveAsync(new byte[16], default).WaitAsync(Patience);
        Assert.Equal(WebSocketMessageType.Close, close.MessageType);
        Assert.Equal((WebSocketCloseStatus)4001, socket.CloseStatus);
        Assert.Equal("done here", socket.CloseStatusDescription);

        // The client answers the close; the server then ends the connection, and with it the stream.
        await socket.CloseOutputAsync((WebSocketCloseStatus)4001, "done here", default).WaitAsync(Patience);
        Assert.Equal(WebSocketState.Closed, socket.State);
        await StreamsEndOnBothSidesAsync();
    }

    [Fact]
    public async Task A_refused_upgrade_comes_back_as_the_servers_answer_and_the_tunnel_serves_on()
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        using var invoker = Invoker();

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(WebSocketAddress($"/_token/{fixture.Token}/status/403"), invoker, default));
        Assert.Equal(HttpStatusCode.Forbidden, socket.HttpStatusCode);

        await StreamsEndOnBothSidesAsync();
        Assert.Equal("status 200", await fixture.Client.GetStringAsync($"/_token/{fixture.Token}/status/200"));
    }

    [Fact]
    public async Task A_plain_request_to_a_WebSocket_endpoint_is_answered_as_the_server_answers_it()
    {
        using var response = await fixture.Client.GetAsync($"/_token/{fixture.Token}/ws/echo/plain");
        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
        Assert.Equal("this endpoint speaks WebSocket only", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Many_WebSockets_share_the_tunnel_at_once()
    {
        var sockets = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => ConnectAsync($"/_token/{fixture.Token}/ws/echo/{Guid.NewGuid():N}")));
        try
        {
            await Task.WhenAll(sockets.Select(async (socket, i) =>
            {
                for (var round = 0; round < 5; round++)
                {
                    var message = Encoding.UTF8.GetBytes($"socket {i} round {round}");
                    await socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, default);
                    Assert.Equal(message, (await ReceiveMessageAsync(socket)).Message);
                }

                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, default);
            })).WaitAsync(Patience);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }

        await StreamsEndOnBothSidesAsync();
    }

    [Fact]
    public async Task A_client_that_vanishes_releases_the_hidden_servers_connection_and_both_ends_of_the_stream()
    {
        var id = Guid.NewGuid().ToString("N");
        var socket = await ConnectAsync($"/_token/{fixture.Token}/ws/echo/{id}");
        await socket.SendAsync("ping"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, default);
        await ReceiveMessageAsync(socket);

        socket.Abort();
        socket.Dispose();

        await fixture.Backend.Aborted.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task.WaitAsync(Patience);
        await StreamsEndOnBothSidesAsync();
    }

    [Fact]
    public async Task An_open_WebSocket_carries_on_when_the_tunnels_own_connection_breaks_and_the_session_resumes()
    {
        await using var tunnel = await DedicatedTunnel.StartAsync(fixture, agent: o =>
        {
            o.Transport = fixture.Transport;
            o.ReconnectDelay = TimeSpan.FromMilliseconds(1);
            o.MaxReconnectDelay = TimeSpan.FromMilliseconds(5);
        }, throughRelay: true);
        var session = tunnel.Gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(tunnel.Token)!.Session!;
        using var socket = await ConnectAsync(tunnel.Via($"/ws/echo/{Guid.NewGuid():N}"), gateway: TunnelFixture.AddressOf(tunnel.Gateway));

        for (var i = 0; i < 3; i++)
        {
            await tunnel.Relay!.ResetAndWaitForNewLinkAsync();
            var message = Encoding.UTF8.GetBytes($"after break {i}");
            await socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, default);
            Assert.Equal(message, (await ReceiveMessageAsync(socket)).Message);
        }

        Assert.Same(session, tunnel.Gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(tunnel.Token)!.Session);
        if (fixture.Transport == AgentTransport.WebSocket)
        {
            // Over long-poll a cut link only fails an HTTP request that is sent again; the session never detaches.
            Assert.True(session.Resumptions >= 3, $"resumed {session.Resumptions} times");
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, default).WaitAsync(Patience);
        await WaitUntil(() => session.ActiveStreams == 0, "the gateway to free the WebSocket's stream");
    }

    private async Task StreamsEndOnBothSidesAsync()
    {
        var gateway = fixture.Gateway.Services.GetRequiredService<TunnelRegistry>().FindByToken(fixture.Token)!.Session!;
        var agent = fixture.Agent.Agent.CurrentSession!;
        await WaitUntil(() => gateway.ActiveStreams == 0 && agent.ActiveStreams == 0, "both ends of the tunnel to free the WebSocket's stream");
    }

    private async Task<ClientWebSocket> ConnectAsync(string path, Version? version = null, Uri? gateway = null)
    {
        var socket = new ClientWebSocket();
        if (version is not null)
        {
            socket.Options.HttpVersion = version;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        using var invoker = Invoker();
        await socket.ConnectAsync(WebSocketAddress(path, gateway), invoker, default).WaitAsync(Patience);
        return socket;
    }

    private HttpMessageInvoker Invoker() => new(new SocketsHttpHandler
    {
        SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == fixture.Certificate.Server.GetCertHashString() },
    });

    private Uri WebSocketAddress(string path, Uri? gateway = null) =>
        new((gateway ?? fixture.GatewayAddress).ToString().Replace("https://", "wss://", StringComparison.Ordinal).TrimEnd('/') + path);

    private static async Task SendInPiecesAsync(WebSocket socket, byte[] message, int piece)
    {
        for (var offset = 0; offset < message.Length; offset += piece)
        {
            var count = Math.Min(piece, message.Length - offset);
            await socket.SendAsync(message.AsMemory(offset, count), WebSocketMessageType.Binary, endOfMessage: offset + count == message.Length, default);
        }
    }

    private static async Task<(WebSocketMessageType Type, byte[] Message)> ReceiveMessageAsync(WebSocket socket)
    {
        using var message = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, default).WaitAsync(Patience);
            Assert.NotEqual(WebSocketMessageType.Close, received.MessageType);
            message.Write(buffer, 0, received.Count);
            if (received.EndOfMessage)
            {
                return (received.MessageType, message.ToArray());
            }
        }
    }
}

public sealed class ClientWebSocketTestsOverWebSocket(WebSocketTunnelFixture fixture) : ClientWebSocketTests(fixture), IClassFixture<WebSocketTunnelFixture>;

public sealed class ClientWebSocketTestsOverLongPoll(LongPollTunnelFixture fixture) : ClientWebSocketTests(fixture), IClassFixture<LongPollTunnelFixture>;
