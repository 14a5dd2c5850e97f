using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WStunnel.Agent;

namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A backend, a gateway (YARP + WStunnel over real TLS on 127.0.0.1) with an ordinary route and a
/// named-tunnel route beside token addressing, and one connected agent. Agents use WebSockets unless
/// a derived fixture says otherwise.
/// </summary>
public class TunnelFixture : IAsyncLifetime
{
    /// <summary>The transport the fixture's agents use.</summary>
    public virtual AgentTransport Transport => AgentTransport.WebSocket;

    public const string NamedTunnelToken = "named-tunnel-token-0123456789";
    public const string HostSuffix = "tunnel.test";

    internal TestCertificate Certificate { get; } = TestCertificate.Create();

    internal Backend Backend { get; private set; } = null!;

    public WebApplication Gateway { get; private set; } = null!;

    public Uri GatewayAddress { get; private set; } = null!;

    public string Token { get; } = "e2e-" + Guid.NewGuid().ToString("N");

    public HttpClient Client { get; private set; } = null!;

    internal RunningAgent Agent { get; private set; } = null!;

    /// <summary>Everything the gateway logged at any level, from WStunnel and YARP.</summary>
    internal ListLogger GatewayLog { get; } = new();

    public async Task InitializeAsync()
    {
        Backend = await Backend.StartAsync();
        Gateway = await StartGatewayAsync(Certificate, Backend.Address, builder =>
        {
            builder.Logging.AddProvider(new ListLoggerProvider(GatewayLog));
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
            builder.Logging.AddFilter((category, _) => category is not null && (category.StartsWith("WStunnel", StringComparison.Ordinal) || category.StartsWith("Yarp", StringComparison.Ordinal)));
        });
        GatewayAddress = AddressOf(Gateway);
        Client = Certificate.CreateClient(GatewayAddress);
        Agent = await StartAgentAsync(Token, Backend.Address);
        await StartAgentAsync(NamedTunnelToken, Backend.Address);
    }

    /// <param name="https">Further settings of the gateway's HTTPS endpoint, e.g. asking for client certificates.</param>
    /// <param name="map">Maps the tunnel endpoints instead of a plain <c>MapWStunnel()</c>, e.g. with an authorization policy.</param>
    internal static async Task<WebApplication> StartGatewayAsync(
        TestCertificate certificate, Uri backend, Action<WebApplicationBuilder>? configure = null, Action<HttpsConnectionAdapterOptions>? https = null,
        Action<WebApplication>? map = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(System.Net.IPAddress.Loopback, 0, listen => listen.UseHttps(options =>
            {
                options.ServerCertificate = certificate.Server;
                https?.Invoke(options);
            }).UseWStunnelAgents());
        });
        builder.Logging.ClearProviders();
        builder.Configuration.Sources.Clear(); // only what the test says; never an appsettings.json lying around
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ReverseProxy:Routes:plain:ClusterId"] = "plain",
            ["ReverseProxy:Routes:plain:Match:Path"] = "/plain/{**rest}",
            ["ReverseProxy:Routes:plain:Transforms:0:PathRemovePrefix"] = "/plain",
            ["ReverseProxy:Clusters:plain:Destinations:d:Address"] = backend.ToString(),
            ["ReverseProxy:Routes:named:ClusterId"] = "named",
            ["ReverseProxy:Routes:named:Match:Path"] = "/named/{**rest}",
            ["ReverseProxy:Routes:named:Transforms:0:PathRemovePrefix"] = "/named",
            ["ReverseProxy:Clusters:named:Destinations:agent:Address"] = "wstunnel://build-agent",
            ["WStunnel:Tunnels:build-agent:Token"] = NamedTunnelToken,
            ["WStunnel:HostSuffixes:0"] = HostSuffix,
        });
        configure?.Invoke(builder);
        builder.Services.AddReverseProxy().LoadFromConfig(builder.Configuration.GetSection("ReverseProxy")).AddWStunnel();
        var app = builder.Build();
        if (map is null)
        {
            app.MapWStunnel();
        }
        else
        {
            map(app);
        }

        app.MapReverseProxy();
        await app.StartAsync();
        return app;
    }

    internal Uri AgentServerUri => AgentServer(GatewayAddress);

    /// <summary>Where a gateway started by a test listens, by the name its certificate carries.</summary>
    internal static Uri AddressOf(WebApplication gateway) => new(gateway.Urls.First().Replace("127.0.0.1", "localhost", StringComparison.Ordinal));

    /// <summary>The URL an agent dials for a gateway (or middlebox) at <paramref name="address"/>.</summary>
    internal static Uri AgentServer(Uri address) => new(address.ToString().Replace("https://", "wss://", StringComparison.Ordinal));

    private readonly List<RunningAgent> _agents = [];

    internal async Task<RunningAgent> StartAgentAsync(string token, Uri target, Action<WStunnelAgentOptions>? configure = null)
    {
        var agent = await RunningAgent.StartAsync(AgentServerUri, token, target, Certificate.CaFile, options =>
        {
            options.Transport = Transport;
            configure?.Invoke(options);
        });
        lock (_agents)
        {
            _agents.Add(agent);
        }

        await WaitForRegistrationAsync(Gateway, token);
        return agent;
    }

    /// <summary>Waits until the gateway serves <paramref name="token"/>: the agent's side of the handshake ends a moment earlier.</summary>
    internal static async Task WaitForRegistrationAsync(WebApplication gateway, string token)
    {
        var registry = gateway.Services.GetRequiredService<WStunnel.Server.Registry.TunnelRegistry>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (registry.FindByToken(token)?.Session is not { IsAvailable: true })
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the gateway did not register the agent within 30 s");
            }

            await Task.Delay(10);
        }
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        await Gateway.DisposeAsync();
        await Backend.DisposeAsync();
        Certificate.Dispose();
    }
}

/// <summary>An agent running in the test process, with a way to wait for its tunnel and to stop it.</summary>
internal sealed class RunningAgent : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private TunnelAgent _agent = null!;
    private Task _run = Task.CompletedTask;
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TunnelAgent Agent => _agent;

    public static async Task<RunningAgent> StartAsync(Uri server, string token, Uri target, string caFile, Action<WStunnelAgentOptions>? configure, bool waitForTunnel = true, ILogger? logger = null)
    {
        var options = new WStunnelAgentOptions
        {
            Server = server,
            Token = token,
            Target = target,
            CaCertificateFile = caFile,
            ReconnectDelay = TimeSpan.FromMilliseconds(100),
            MaxReconnectDelay = TimeSpan.FromSeconds(1),
        };
        configure?.Invoke(options);
        var running = new RunningAgent();
        running._agent = new TunnelAgent(options, logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        running._agent.Connected += _ => running._connected.TrySetResult();
        running._run = running._agent.RunAsync(running._stop.Token);

        if (waitForTunnel)
        {
            await running.WaitForTunnelAsync();
        }

        return running;
    }

    public async Task WaitForTunnelAsync()
    {
        try
        {
            await _connected.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException("the agent did not open its tunnel within 30 s");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync();
        await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _agent.Dispose();
    }
}

/// <summary>The core scenarios over WebSockets.</summary>
public sealed class WebSocketTunnelFixture : TunnelFixture;

/// <summary>The core scenarios over HTTPS long-poll.</summary>
public sealed class LongPollTunnelFixture : TunnelFixture
{
    public override AgentTransport Transport => AgentTransport.LongPoll;
}
