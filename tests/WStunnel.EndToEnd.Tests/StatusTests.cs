using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using WStunnel.Agent;
using WStunnel.EndToEnd.Tests.Infrastructure;
using WStunnel.Server.Registry;

namespace WStunnel.EndToEnd.Tests;

/// <summary>Operators see every tunnel — by name or fingerprint, never by token — and health for load balancers.</summary>
public sealed class StatusTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>, IAsyncLifetime
{
    private readonly string _token = "status-" + Guid.NewGuid().ToString("N");
    private WebApplication _gateway = null!;
    private RunningAgent _agent = null!;
    private HttpClient _client = null!;
    private volatile bool _holdStatusJson;

    public async Task InitializeAsync()
    {
        _gateway = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, builder => builder.Configuration["WStunnel:Status:Page"] = "true", map: app =>
        {
            app.Use(async (context, next) =>
            {
                if (_holdStatusJson && context.Request.Path == "/_stats/json")
                {
                    await Task.Delay(300); // real time between the page's polls (see the browser test)
                }

                await next(context);
            });
            app.MapWStunnel();
            app.MapWStunnelStatus();
        });
        _agent = await RunningAgent.StartAsync(TunnelFixture.AgentServer(TunnelFixture.AddressOf(_gateway)), _token, fixture.Backend.Address,
            fixture.Certificate.CaFile, o => o.Transport = AgentTransport.WebSocket);
        _client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(_gateway));
        for (var i = 0; i < 3; i++)
        {
            await _client.GetStringAsync($"/_token/{_token}/bytes/100");
        }
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _agent.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    private string Fingerprint => TokenKey.From(_token).Fingerprint;

    [Fact]
    public async Task Stats_answer_in_the_original_key_value_form_without_the_token()
    {
        var stats = await _client.GetStringAsync("/_stats");

        Assert.StartsWith("tunnels=2\n", stats, StringComparison.Ordinal); // the named tunnel of the fixture, and this one
        var index = stats.Split('\n').Single(l => l.EndsWith("_name=" + Fingerprint, StringComparison.Ordinal)).Split('_')[0];
        Assert.Contains($"{index}_tot_req=3\n", stats, StringComparison.Ordinal);
        Assert.Contains($"{index}_bytes_from_agent=300\n", stats, StringComparison.Ordinal);
        Assert.Contains($"{index}_remote_addr=127.0.0.1\n", stats, StringComparison.Ordinal);
        Assert.Contains($"{index}_transport=websocket\n", stats, StringComparison.Ordinal);
        Assert.DoesNotContain(_token, stats, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_JSON_status_lists_tunnels_agents_and_traffic_without_the_token()
    {
        var text = await _client.GetStringAsync("/_stats/json");
        using var status = JsonDocument.Parse(text);

        var tunnel = status.RootElement.GetProperty("tunnels").EnumerateArray().Single(t => t.GetProperty("name").GetString() == Fingerprint);
        Assert.False(tunnel.GetProperty("named").GetBoolean());
        Assert.Equal(3, tunnel.GetProperty("requests").GetInt64());
        Assert.Equal(0, tunnel.GetProperty("errors").GetInt64());
        Assert.Equal(300, tunnel.GetProperty("bytesFromAgent").GetInt64());
        var agent = Assert.Single(tunnel.GetProperty("agents").EnumerateArray());
        Assert.Equal("127.0.0.1", agent.GetProperty("address").GetString());
        Assert.Equal("websocket", agent.GetProperty("transport").GetString());
        Assert.True(agent.GetProperty("connected").GetBoolean());
        var named = status.RootElement.GetProperty("tunnels").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "build-agent");
        Assert.Empty(named.GetProperty("agents").EnumerateArray());
        Assert.DoesNotContain(_token, text, StringComparison.Ordinal);
        Assert.DoesNotContain(TunnelFixture.NamedTunnelToken, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Healthz_reports_degraded_while_a_named_tunnel_has_no_agent_and_the_original_check_still_answers()
    {
        using var health = await _client.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("Degraded", await health.Content.ReadAsStringAsync());
        Assert.Equal("WSTUNSRV RUNNING", await _client.GetStringAsync("/_health_check"));
    }

    [Fact]
    public async Task The_status_page_shows_the_tunnels_with_their_live_request_rate_in_a_real_browser()
    {
        // Chromium's virtual time runs the page's 2 s polls back to back in real time, but waits for each
        // fetch: held for 300 ms, each poll leaves the loops beside it time to complete requests, which
        // the next poll counts (without it a busy machine could complete none in between: rate 0.0).
        _holdStatusJson = true;
        using var traffic = new CancellationTokenSource();
        var load = Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!traffic.IsCancellationRequested)
            {
                await _client.GetStringAsync($"/_token/{_token}/status/200");
            }
        })));

        var dom = await HeadlessChromium.DumpDomAsync(new Uri(TunnelFixture.AddressOf(_gateway), "/_stats/ui"));
        await traffic.CancelAsync();
        await load;

        var row = HeadlessChromium.Row(dom, Fingerprint);
        Assert.Equal(Fingerprint, row[0]);
        Assert.Equal("1", row[1]);
        Assert.Equal("127.0.0.1 (websocket)", row[2]);
        Assert.True(double.Parse(row[3], System.Globalization.CultureInfo.InvariantCulture) > 0, $"rate {row[3]}");
        Assert.Contains("agent session(s)", dom, StringComparison.Ordinal);
        Assert.DoesNotContain(_token, dom, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_status_page_is_off_unless_enabled_and_carries_a_strict_content_security_policy()
    {
        using var page = await _client.GetAsync("/_stats/ui");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);

        await using var plain = await TunnelFixture.StartGatewayAsync(fixture.Certificate, fixture.Backend.Address, map: app =>
        {
            app.MapWStunnel();
            app.MapWStunnelStatus();
        });
        using var client = fixture.Certificate.CreateClient(TunnelFixture.AddressOf(plain));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/_stats/ui")).StatusCode);
    }
}
