using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
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
    public static WebApplication Build(string[] args, string? configFile, Action<WebApplicationBuilder>? configure = null)
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

        // No "Server: Kestrel" banner on the internet-facing gateway.
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
        configure?.Invoke(builder);
        builder.Services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddWStunnel();

        var app = builder.Build();
        app.MapWStunnel();
        app.MapReverseProxy();
        return app;
    }

    /// <summary>Serves HTTPS with a PEM certificate and key given on the command line.</summary>
    public static void UseCertificate(WebApplicationBuilder builder, X509Certificate2 certificate) =>
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate));
}
