using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Moq;
using WStunnel.Server.Configuration;
using WStunnel.Protocol.Session;
using WStunnel.Protocol.Transports;
using WStunnel.Server.Endpoints;
using WStunnel.Server.Registry;
using WStunnel.Server.Security;
using WStunnel.Server.Tests.Diagnostics;
using WStunnel.Server.Tests.Registry;

namespace WStunnel.Server.Tests.Endpoints;

public sealed class AgentAdmissionTests : IDisposable
{
    private readonly WStunnelOptions _options = new();
    private RecordedMetrics? _recorded;

    public void Dispose() => _recorded?.Dispose();

    [Fact]
    public async Task A_stopping_gateway_refuses_new_agents_with_503_and_Retry_After()
    {
        using var stopping = new CancellationTokenSource();
        await stopping.CancelAsync();
        var context = Registration("agent-token-0123456789");

        Assert.Null(await Admission(stopping.Token).AdmitAsync(context));

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
        Assert.Equal("5", context.Response.Headers.RetryAfter.ToString());
        Assert.Equal(1, _recorded!.Total("wstunnel.gateway.registrations", "wstunnel.outcome=503"));
    }

    [Fact]
    public async Task A_running_gateway_admits_an_agent_with_a_well_formed_token()
    {
        var context = Registration("agent-token-0123456789");

        var tunnel = await Admission(CancellationToken.None).AdmitAsync(context);

        Assert.NotNull(tunnel);
        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
    }

    [Fact]
    public async Task An_identity_at_its_tunnel_cap_is_refused_a_new_tunnel_with_403_but_may_replace_its_own()
    {
        _options.Limits.MaxTunnelsPerIdentity = 2;
        var registry = new TunnelRegistry(Options.Create(_options), TimeProvider.System);
        var admission = Admission(CancellationToken.None, registry);
        await ConnectAsync(admission, registry, "first-token-0123456789");
        await ConnectAsync(admission, registry, "second-token-0123456789");

        var third = Registration("third-token-0123456789");
        Assert.Null(await admission.AdmitAsync(third));
        Assert.Equal(StatusCodes.Status403Forbidden, third.Response.StatusCode);
        Assert.Contains("WStunnel:Limits:MaxTunnelsPerIdentity", ResponseText(third), StringComparison.Ordinal);

        Assert.NotNull(await admission.AdmitAsync(Registration("second-token-0123456789")));
        var elsewhere = Registration("third-token-0123456789");
        elsewhere.Connection.RemoteIpAddress = IPAddress.Parse("192.0.2.7");
        Assert.NotNull(await admission.AdmitAsync(elsewhere));
    }

    [Fact]
    public async Task Another_identity_cannot_take_a_connected_tunnel_over_but_its_own_agent_may_restart_into_it()
    {
        var registry = new TunnelRegistry(Options.Create(_options), TimeProvider.System);
        var admission = Admission(CancellationToken.None, registry);
        var owner = await ConnectAsync(admission, registry, "taken-token-0123456789");

        var intruder = Registration("taken-token-0123456789");
        intruder.Connection.RemoteIpAddress = IPAddress.Parse("192.0.2.7");
        Assert.Null(await admission.AdmitAsync(intruder));
        Assert.Equal(StatusCodes.Status409Conflict, intruder.Response.StatusCode);
        Assert.Contains("MaxAgents", ResponseText(intruder), StringComparison.Ordinal);

        Assert.NotNull(await admission.AdmitAsync(Registration("taken-token-0123456789")));
        Assert.Same(owner, registry.FindByToken("taken-token-0123456789")!.Session);
    }

    [Fact]
    public async Task A_full_pool_refuses_a_new_agent_with_503_but_lets_one_of_its_agents_resume()
    {
        _options.Tunnels["pool"] = new WStunnelTunnelOptions { Token = "pool-token-0123456789", MaxAgents = 1 + 1 };
        var registry = new TunnelRegistry(Options.Create(_options), TimeProvider.System);
        var admission = Admission(CancellationToken.None, registry);
        var pool = registry.FindByName("pool")!;
        await ConnectAsync(admission, registry, "pool-token-0123456789");
        var last = await ConnectAsync(admission, registry, "pool-token-0123456789");

        var newcomer = Registration("pool-token-0123456789");
        Assert.Null(await admission.AdmitAsync(newcomer));
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, newcomer.Response.StatusCode);
        Assert.Contains("WStunnel:Tunnels:pool:MaxAgents", ResponseText(newcomer), StringComparison.Ordinal);

        var returning = Registration("pool-token-0123456789");
        returning.Request.Headers[AgentHeaders.Resume] = last.SessionId.ToString("N");
        Assert.Same(pool, (await admission.AdmitAsync(returning))?.Tunnel);

        var pretender = Registration("pool-token-0123456789");
        pretender.Request.Headers[AgentHeaders.Resume] = Guid.NewGuid().ToString("N");
        Assert.Null(await admission.AdmitAsync(pretender));
    }

    /// <summary>Admits an agent and gives it a live session, as the endpoints do.</summary>
    private static async Task<TunnelSession> ConnectAsync(AgentAdmission admission, TunnelRegistry registry, string token)
    {
        var admitted = await admission.AdmitAsync(Registration(token));
        Assert.NotNull(admitted);
        var (tunnel, agent) = admitted.Value;
        var session = await SessionFactory.AvailableSessionAsync();
        registry.AddSession(tunnel, session, agent);
        tunnel.Attach(session);
        return session;
    }

    private AgentAdmission Admission(CancellationToken stopping, TunnelRegistry? registry = null)
    {
        var lifetime = new Mock<IHostApplicationLifetime>();
        lifetime.SetupGet(l => l.ApplicationStopping).Returns(stopping);
        var options = Options.Create(_options);
        registry ??= new TunnelRegistry(options, TimeProvider.System);
        _recorded?.Dispose();
        _recorded = new RecordedMetrics(registry);
        return new AgentAdmission(registry, new ClientRateLimiter(new LiveSettings(options)), new AgentCertificateValidator(options), _recorded.Metrics,
            options, lifetime.Object, NullLogger<AgentAdmission>.Instance);
    }

    private static string ResponseText(HttpContext context) =>
        System.Text.Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray());

    private static DefaultHttpContext Registration(string token)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers[AgentHeaders.Token] = token;
        context.Connection.RemoteIpAddress = IPAddress.Loopback;
        context.Response.Body = new MemoryStream();
        return context;
    }
}
