using System.Collections.Concurrent;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>
/// On an endpoint with <c>UseWStunnelAgents()</c>, agents' WebSockets are admitted and run beside
/// Kestrel's HTTP processing, and every other connection reaches the application as before.
/// </summary>
public sealed class DirectAgentConnectionTests(WebSocketTunnelFixture fixture) : IClassFixture<WebSocketTunnelFixture>
{
    private const string Token = "direct-agent-token-0123456789";

    // What the application's HTTP pipeline saw of the agent path.
    private readonly ConcurrentQueue<string> _pipelineSaw = new();

    [Fact]
    public async Task An_agent_connects_without_its_upgrade_passing_the_HTTP_pipeline_and_serves_requests()
    {
        await using var gateway = await StartGatewayAsync();
        await using var agent = await StartAgentAsync(gateway, Token);

        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(gateway));
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{Token}/status/200"));
        Assert.Empty(_pipelineSaw);
    }

    [Fact]
    public async Task With_DirectAgentConnections_off_the_agent_connects_through_the_HTTP_pipeline()
    {
        await using var gateway = await StartGatewayAsync(builder => builder.Configuration["WStunnel:DirectAgentConnections"] = "false");
        await using var agent = await StartAgentAsync(gateway, Token);

        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(gateway));
        Assert.Equal("status 200", await client.GetStringAsync($"/_token/{Token}/status/200"));
        Assert.Contains("GET /_tunnel", _pipelineSaw);
    }

    [Fact]
    public async Task Authorization_on_the_agent_endpoint_keeps_agents_on_the_HTTP_pipeline_which_applies_it()
    {
        await using var gateway = await StartGatewayAsync(
            builder => builder.Services.AddAuthorization(),
            map: app => app.MapWStunnel().RequireAuthorization(policy => policy.RequireAssertion(_ => true)));
        await using var agent = await StartAgentAsync(gateway, Token);

        Assert.Contains("GET /_tunnel", _pipelineSaw);
    }

    [Fact]
    public async Task An_agent_endpoint_with_RequireHost_takes_agents_directly_on_its_hosts()
    {
        await using var gateway = await StartGatewayAsync(map: app => app.MapWStunnel().RequireHost("localhost"));
        await using var agent = await StartAgentAsync(gateway, Token);

        Assert.Empty(_pipelineSaw);
    }

    [Fact]
    public async Task An_agent_upgrade_for_another_host_is_left_to_routing()
    {
        await using var gateway = await StartGatewayAsync(map: app => app.MapWStunnel().RequireHost("agents.example.com"));

        var (answer, _) = await ExchangeAsync(gateway, Upgrade("/_tunnel", "X-WStunnel-Token: short\r\n"));

        Assert.StartsWith("HTTP/1.1 404 Not Found\r\n", answer, StringComparison.Ordinal);
        Assert.Contains("GET /_tunnel", _pipelineSaw);
    }

    [Fact]
    public async Task A_refused_agent_gets_the_HTTP_endpoints_status_and_message_and_the_connection_closes()
    {
        await using var gateway = await StartGatewayAsync();

        var (answer, closed) = await ExchangeAsync(gateway, Upgrade("/_tunnel", "X-WStunnel-Token: short\r\n"));

        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", answer, StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Type: text/plain; charset=utf-8\r\n", answer, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\nToken too short: tokens must be at least 16 characters.\n", answer, StringComparison.Ordinal);
        Assert.True(closed, "the connection stayed open after the refusal");
        Assert.Empty(_pipelineSaw);
    }

    [Fact]
    public async Task An_upgrade_without_the_tunnel_subprotocol_goes_to_the_HTTP_endpoint_which_explains()
    {
        await using var gateway = await StartGatewayAsync();

        var (answer, _) = await ExchangeAsync(gateway, Upgrade("/_tunnel", string.Empty).Replace("Sec-WebSocket-Protocol: wstunnel.v1\r\n", string.Empty, StringComparison.Ordinal));

        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", answer, StringComparison.Ordinal);
        Assert.Contains("Unsupported tunnel protocol", answer, StringComparison.Ordinal);
        Assert.Contains("GET /_tunnel", _pipelineSaw);
    }

    [Fact]
    public async Task A_head_that_arrives_in_pieces_is_read_whole()
    {
        await using var gateway = await StartGatewayAsync();
        var request = Upgrade("/_tunnel", "X-WStunnel-Token: short\r\n");

        var (answer, _) = await ExchangeAsync(gateway, request[..7], request[7..40], request[40..]);

        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", answer, StringComparison.Ordinal);
        Assert.Empty(_pipelineSaw);
    }

    [Fact]
    public async Task Public_requests_on_the_same_endpoint_reach_the_application()
    {
        await using var gateway = await StartGatewayAsync();

        var (answer, _) = await ExchangeAsync(gateway, "GET /_tunnel/elsewhere HTTP/1.1\r\nHost: localhost\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 404 Not Found\r\n", answer, StringComparison.Ordinal);
        Assert.Contains("GET /_tunnel/elsewhere", _pipelineSaw);
    }

    [Fact]
    public async Task A_new_connection_may_idle_before_its_first_request_as_Kestrel_allows()
    {
        await using var gateway = await StartGatewayAsync(ShortHeadTimeout);

        var (answer, _) = await ExchangeAsync(gateway, TimeSpan.FromSeconds(2), "GET /_tunnel/elsewhere HTTP/1.1\r\nHost: localhost\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 404 Not Found\r\n", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_agent_head_that_stops_arriving_ends_the_connection_after_RequestHeadersTimeout()
    {
        await using var gateway = await StartGatewayAsync(ShortHeadTimeout);
        await using var tls = await ConnectAsync(gateway);
        await tls.WriteAsync("GET /_tunnel HTTP/1.1\r\nHost: loc"u8.ToArray());
        await tls.FlushAsync();

        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Assert.Equal(0, await tls.ReadAsync(new byte[64], patience.Token));
        Assert.Empty(_pipelineSaw);
    }

    private static void ShortHeadTimeout(WebApplicationBuilder builder) => builder.WebHost.ConfigureKestrel(kestrel =>
    {
        kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(1);
        kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(30);
    });

    private Task<Microsoft.AspNetCore.Builder.WebApplication> StartGatewayAsync(Action<WebApplicationBuilder>? configure = null, Action<WebApplication>? map = null) =>
        TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder =>
        {
            builder.Configuration[$"WStunnel:Tunnels:direct:Token"] = Token;
            configure?.Invoke(builder);
        }, map: app =>
        {
            app.Use(async (HttpContext context, RequestDelegate next) =>
            {
                if (context.Request.Path.StartsWithSegments("/_tunnel"))
                {
                    _pipelineSaw.Enqueue($"{context.Request.Method} {context.Request.Path}");
                }

                await next(context);
            });
            (map ?? (a => a.MapWStunnel()))(app);
        });

    private async Task<RunningAgent> StartAgentAsync(WebApplication gateway, string token)
    {
        var agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(TunnelFixture.AddressOf(gateway)), token, fixture.Backend.Address, fixture.Certificate.CaFile, null);
        await TunnelFixture.WaitForRegistrationAsync(gateway, token);
        return agent;
    }

    private static string Upgrade(string path, string extraHeaders) =>
        $"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        + $"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wstunnel.v1\r\n{extraHeaders}\r\n";

    /// <summary>
    /// Sends <paramref name="pieces"/> over TLS, each flushed on its own, and reads one response (head and
    /// Content-Length body), noting whether the gateway then closes the connection.
    /// </summary>
    private Task<(string Response, bool Closed)> ExchangeAsync(WebApplication gateway, params string[] pieces) =>
        ExchangeAsync(gateway, TimeSpan.Zero, pieces);

    private async Task<(string Response, bool Closed)> ExchangeAsync(WebApplication gateway, TimeSpan idleFirst, params string[] pieces)
    {
        await using var tls = await ConnectAsync(gateway);
        await Task.Delay(idleFirst);
        foreach (var piece in pieces)
        {
            await tls.WriteAsync(Encoding.ASCII.GetBytes(piece));
            await tls.FlushAsync();
            await Task.Delay(50);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var received = new List<byte>();
        var buffer = new byte[4096];
        int? total = null;
        while (total is null || received.Count < total)
        {
            var read = await tls.ReadAsync(buffer, timeout.Token);
            Assert.True(read > 0, "the gateway closed the connection before its response was complete");
            received.AddRange(buffer.AsSpan(0, read));
            var text = Encoding.ASCII.GetString(received.ToArray());
            if (total is null && text.IndexOf("\r\n\r\n", StringComparison.Ordinal) is var end and >= 0)
            {
                var length = System.Text.RegularExpressions.Regex.Match(text[..end], "(?im)^content-length: *([0-9]+)");
                total = end + 4 + (length.Success ? int.Parse(length.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0);
            }
        }

        using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        bool closed;
        try
        {
            closed = await tls.ReadAsync(buffer, closing.Token) == 0;
        }
        catch (OperationCanceledException)
        {
            closed = false;
        }

        return (Encoding.UTF8.GetString(received.ToArray()), closed);
    }

    /// <summary>A TLS connection to the gateway, authenticated; the stream owns the socket.</summary>
    private async Task<SslStream> ConnectAsync(WebApplication gateway)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", TunnelFixture.AddressOf(gateway).Port);
        var tls = new SslStream(tcp.GetStream(), false, (_, presented, _, _) => presented?.GetCertHashString() == fixture.Certificate.Server.GetCertHashString());
        await tls.AuthenticateAsClientAsync("localhost");
        return tls;
    }
}
