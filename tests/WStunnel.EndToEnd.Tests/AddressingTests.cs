using System.Net;
using System.Net.WebSockets;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>The three token forms, named tunnels, and the gateway's other routes side by side.</summary>
public abstract class AddressingTests(TunnelFixture fixture)
{
    private HttpClient Client => fixture.Client;

    [Fact]
    public void The_tunnel_runs_on_the_transport_under_test()
    {
        var registry = fixture.Gateway.Services.GetService(typeof(WStunnel.Server.Registry.TunnelRegistry)) as WStunnel.Server.Registry.TunnelRegistry;
        var expected = fixture.Transport == WStunnel.Agent.AgentTransport.LongPoll ? "longpoll" : "websocket";
        Assert.Equal(expected, registry!.FindByToken(fixture.Token)!.Session!.TransportName);
    }

    [Fact]
    public async Task Token_in_the_path_prefix_is_stripped_before_the_backend()
    {
        var text = await Client.GetStringAsync($"/_token/{fixture.Token}/echo/p?q=1");
        Assert.Contains("target=/echo/p?q=1\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Token, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_in_the_X_Token_header_is_removed_before_the_backend()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo/x");
        request.Headers.Add("X-Token", fixture.Token);
        var text = await (await Client.SendAsync(request)).Content.ReadAsStringAsync();
        Assert.Contains("target=/echo/x\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Token, text, StringComparison.Ordinal);
        Assert.DoesNotContain("x-token", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_as_the_first_host_label_under_a_suffix_never_reaches_the_backend()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo/host");
        request.Headers.Host = $"{fixture.Token}.{TunnelFixture.HostSuffix}";
        using var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("target=/echo/host\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Token, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_as_the_whole_host_addresses_the_agent()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo/whole");
        request.Headers.Host = fixture.Token;
        using var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("target=/echo/whole\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Token, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_named_tunnel_serves_an_ordinary_YARP_route_with_its_transforms()
    {
        var text = await Client.GetStringAsync("/named/echo/n?z=9");
        Assert.Contains("target=/echo/n?z=9\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_gateways_non_tunnel_routes_are_unaffected()
    {
        var hits = fixture.Backend.Hits;
        var text = await Client.GetStringAsync("/plain/echo/direct");
        Assert.Contains("target=/echo/direct\n", text, StringComparison.Ordinal);
        Assert.True(fixture.Backend.Hits > hits);
    }

    [Theory]
    [InlineData("/_token/unknown-token-0123456789/x")]
    [InlineData("/_token/short/x")]
    [InlineData("/nothing-matches-this")]
    public async Task An_unknown_token_gets_404_with_a_plain_text_message(string path)
    {
        using var response = await Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("No tunnel is registered for this address.\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Every_unknown_address_gets_the_same_answer_whatever_the_form()
    {
        async Task<string> AnswerTo(string path, string? tokenHeader = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (tokenHeader is not null)
            {
                request.Headers.Add("X-Token", tokenHeader);
            }

            using var response = await Client.SendAsync(request);
            var headers = response.Headers.Concat(response.Content.Headers).Where(h => h.Key != "Date").Select(h => $"{h.Key}: {string.Join(",", h.Value)}").Order();
            return $"{(int)response.StatusCode}\n{string.Join("\n", headers)}\n{await response.Content.ReadAsStringAsync()}";
        }

        var reference = await AnswerTo("/nothing-matches-this");

        Assert.StartsWith("404\n", reference, StringComparison.Ordinal);
        Assert.Equal(reference, await AnswerTo("/_token/unknown-token-0123456789/x"));
        Assert.Equal(reference, await AnswerTo("/x", tokenHeader: "unknown-token-0123456789"));
        Assert.Equal(reference, await AnswerTo("/_token/short/x"));
    }

    [Fact]
    public async Task The_health_check_answers_like_the_original()
    {
        Assert.Equal("WSTUNSRV RUNNING", await Client.GetStringAsync("/_health_check"));
    }

    [Fact]
    public async Task A_target_that_refuses_connections_gives_502_from_the_agent()
    {
        var token = "refused-" + Guid.NewGuid().ToString("N");
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await fixture.StartAgentAsync(token, new Uri($"http://127.0.0.1:{closedPort}"));

        using var response = await Client.GetAsync($"/_token/{token}/anything");
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("The tunnel agent could not connect to its target.\n", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("short-token", HttpStatusCode.BadRequest)]
    [InlineData("", HttpStatusCode.BadRequest)]
    public async Task Registration_with_a_bad_token_is_refused_with_400(string token, HttpStatusCode expected)
    {
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("wstunnel.v1");
        socket.Options.CollectHttpResponseDetails = true;
        if (token.Length > 0)
        {
            socket.Options.SetRequestHeader("X-WStunnel-Token", token);
        }

        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == fixture.Certificate.Server.GetCertHashString() },
        });
        var endpoint = new Uri(fixture.GatewayAddress.ToString().Replace("https://", "wss://", StringComparison.Ordinal) + "_tunnel");
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(endpoint, invoker, default));
        Assert.Equal(expected, socket.HttpStatusCode);
    }

    [Fact]
    public async Task A_plain_GET_on_the_tunnel_endpoint_is_told_to_upgrade()
    {
        using var response = await Client.GetAsync("/_tunnel");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("WebSocket upgrade", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}

public sealed class AddressingTestsOverWebSocket(WebSocketTunnelFixture fixture) : AddressingTests(fixture), IClassFixture<WebSocketTunnelFixture>;

public sealed class AddressingTestsOverLongPoll(LongPollTunnelFixture fixture) : AddressingTests(fixture), IClassFixture<LongPollTunnelFixture>;
