using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using WStunnel.Cli.Certificates;
using WStunnel.Server.Status;

namespace WStunnel.Cli;

/// <summary>The standalone gateway: YARP with its routes from configuration, plus WStunnel.</summary>
internal static class GatewayApp
{
    /// <summary>
    /// Builds the gateway. Configuration comes only from <paramref name="configFile"/>, then <c>WSTUNNEL__</c>
    /// environment variables, then <paramref name="args"/>, each overriding the one before.
    /// </summary>
    public static WebApplication Build(string[] args, string? configFile, ServerCertificate? certificate = null, Action<WebApplicationBuilder>? configure = null)
    {
        // With the certificate in hand the gateway binds its URLs itself, so that agents connect directly
        // (GatewayEndpoints); a certificate from Kestrel's configuration is Kestrel's to load at start.
        var urls = certificate is null ? null : ConfiguredUrls(args, configFile);
        var bindsUrls = !string.IsNullOrWhiteSpace(urls);

        // The host keeps its own copy of the command line's URLs; bound here, Kestrel would warn that it overrides them.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = Hosting.WorkingDirectoryWatch.Off(bindsUrls ? GatewayEndpoints.WithoutUrls(args) : args),
            ContentRootPath = Directory.GetCurrentDirectory(),
        });
        builder.Configuration.Sources.Clear();
        AddSources(builder.Configuration, args, configFile, watch: true);
        if (bindsUrls)
        {
            builder.Configuration[WebHostDefaults.ServerUrlsKey] = null;
        }

        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.UseWStunnelMemoryPool();
        var agentCertificates = builder.Configuration.GetValue<bool>($"{WStunnel.Server.WStunnelOptions.SectionName}:AgentCertificates:Required");

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // No "Server: Kestrel" banner on the internet-facing gateway.
            kestrel.AddServerHeader = false;
            Harden(kestrel.Limits);
            builder.Configuration.GetSection("Kestrel:Limits").Bind(kestrel.Limits); // the operator's word wins
            kestrel.ConfigureHttpsDefaults(https =>
            {
                certificate?.ApplyTo(https);

                if (agentCertificates)
                {
                    // Ask for client certificates without requiring them (public clients have none), and
                    // judge them where the agent registers, against the configured CA only.
                    https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                    https.ClientCertificateValidation = static (_, _, _) => true;
                }
            });

            if (bindsUrls)
            {
                GatewayEndpoints.Listen(kestrel, urls!); // after the HTTPS defaults, which UseHttps() applies at once
            }
        });
        configure?.Invoke(builder);
        var forwardedHeaders = GatewayForwardedHeaders.Read(builder.Configuration);
        var prometheus = builder.Configuration.GetValue<bool>("Metrics:Prometheus:Enabled");
        if (prometheus)
        {
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
                .AddMeter(WStunnel.Server.Diagnostics.GatewayMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Net.Http")
                .AddPrometheusExporter());
        }

        builder.Services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddWStunnel();
        builder.Services.AddHostedService<Hosting.ConfigurationReloadOnHangUp>();

        var app = builder.Build();
        if (forwardedHeaders is not null)
        {
            app.UseForwardedHeaders(forwardedHeaders);
        }

        app.MapWStunnel();
        app.MapWStunnelStatus();
        if (prometheus)
        {
            MapPrometheus(app, builder.Configuration["Metrics:Prometheus:Path"] ?? "/metrics");
        }

        app.MapReverseProxy();
        return app;
    }

    private static string? ConfiguredUrls(string[] args, string? configFile)
    {
        using var configuration = (ConfigurationRoot)AddSources(new ConfigurationBuilder(), args, configFile).Build();
        return configuration[WebHostDefaults.ServerUrlsKey];
    }

    /// <summary>The Prometheus scraping endpoint, for the same callers as the status (loopback and <c>WStunnel:Status:AllowedNetworks</c>).</summary>
    private static void MapPrometheus(WebApplication app, string path)
    {
        var status = app.Services.GetRequiredService<StatusEndpoints>();
        app.MapPrometheusScrapingEndpoint(path).Add(endpoint =>
        {
            var scrape = endpoint.RequestDelegate!;
            endpoint.RequestDelegate = async context =>
            {
                if (!await status.RefusedAsync(context).ConfigureAwait(false))
                {
                    await scrape(context).ConfigureAwait(false);
                }
            };
        });
    }

    /// <summary>
    /// Log levels for a configuration that sets none, as the repository's <c>appsettings.json</c>: ASP.NET
    /// Core's request lines would otherwise log every request's Host and path, and with them tokens.
    /// </summary>
    private static readonly Dictionary<string, string?> DefaultLogLevels = new()
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:Yarp"] = "Warning",
    };

    /// <summary>
    /// The gateway's configuration sources, weakest first: default log levels, the file (watched for
    /// changes with <paramref name="watch"/>), <c>WSTUNNEL__</c> variables, the command line.
    /// </summary>
    public static IConfigurationBuilder AddSources(IConfigurationBuilder configuration, string[] args, string? configFile, bool watch = false)
    {
        configuration.AddInMemoryCollection(DefaultLogLevels);
        if (configFile is not null)
        {
            configuration.Add(new Hosting.ConfigurationFileSource(configFile, watch: watch));
        }

        configuration.AddEnvironmentVariables("WSTUNNEL__");
        return configuration.AddCommandLine(args);
    }

    /// <summary>
    /// Limits for a gateway on the internet, stated here rather than left to defaults that may move:
    /// small heads, a short time to send them (slow-header clients), minimum body rates both ways
    /// (slow-body clients), bounded HTTP/2 concurrency. HTTP/3 stays off (Kestrel's default protocols).
    /// </summary>
    internal static void Harden(KestrelServerLimits limits)
    {
        limits.MaxRequestLineSize = 8 * 1024;
        limits.MaxRequestHeaderCount = 100;
        limits.MaxRequestHeadersTotalSize = 32 * 1024;
        limits.RequestHeadersTimeout = TimeSpan.FromSeconds(15);
        limits.KeepAliveTimeout = TimeSpan.FromSeconds(120);
        limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(10));
        limits.MinResponseDataRate = new MinDataRate(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(10));
        limits.Http2.MaxStreamsPerConnection = 100;
        limits.Http2.MaxRequestHeaderFieldSize = 16 * 1024;
    }
}
