using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace WStunnel.Cli;

/// <summary>The standalone gateway: YARP with its routes from configuration, plus WStunnel.</summary>
internal static class GatewayApp
{
    /// <summary>
    /// Builds the gateway. Configuration comes only from <paramref name="configFile"/>, then <c>WSTUNNEL__</c>
    /// environment variables, then <paramref name="args"/>, each overriding the one before.
    /// </summary>
    public static WebApplication Build(string[] args, string? configFile, X509Certificate2? certificate = null, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = Directory.GetCurrentDirectory() });
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection();
        if (configFile is not null)
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: true);
        }

        builder.Configuration.AddEnvironmentVariables("WSTUNNEL__");
        builder.Configuration.AddCommandLine(args);
        builder.WebHost.UseKestrelHttpsConfiguration();

        var agentCertificates = builder.Configuration.GetValue<bool>($"{WStunnel.Server.WStunnelOptions.SectionName}:AgentCertificates:Required");
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // No "Server: Kestrel" banner on the internet-facing gateway.
            kestrel.AddServerHeader = false;
            kestrel.ConfigureHttpsDefaults(https =>
            {
                if (certificate is not null)
                {
                    https.ServerCertificate = certificate;
                }

                if (agentCertificates)
                {
                    // Ask for client certificates without requiring them (public clients have none), and
                    // judge them where the agent registers, against the configured CA only.
                    https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                    https.ClientCertificateValidation = static (_, _, _) => true;
                }
            });
        });
        configure?.Invoke(builder);
        builder.Services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddWStunnel();

        var app = builder.Build();
        app.MapWStunnel();
        app.MapReverseProxy();
        return app;
    }

}
