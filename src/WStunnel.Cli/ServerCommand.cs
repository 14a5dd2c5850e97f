using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Cli.Certificates;
using WStunnel.Cli.Hosting;

namespace WStunnel.Cli;

/// <summary><c>wstunnel server</c>: the standalone gateway.</summary>
internal static class ServerCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config") { Description = "appsettings-style JSON file with the ReverseProxy and WStunnel sections (default: ./appsettings.json when present)." };
        var urls = new Option<string?>("--urls") { Description = "Addresses to listen on, e.g. https://0.0.0.0:443 (default: Kestrel's configuration)." };
        var cert = new Option<FileInfo?>("--cert") { Description = "PEM certificate for HTTPS, followed by its intermediates (e.g. fullchain.pem); re-read every minute and on SIGHUP, so a renewed certificate needs no restart." };
        var key = new Option<FileInfo?>("--cert-key") { Description = "PEM private key of --cert." };
        var logFormat = CommonOptions.LogFormat();
        var command = new Command("server", """
            Run the gateway: YARP with the WStunnel extension. Agents connect to /_tunnel; requests carrying
            a token (Host label, X-Token header, /_token/TOKEN/ prefix) or routed to wstunnel://NAME go through them.
            Settings: the --config file, then WSTUNNEL__ environment variables (WSTUNNEL__WStunnel__Limits__MaxTunnels),
            then --Section:Key=value arguments, each overriding the one before.

            Examples:
              wstunnel server --urls https://0.0.0.0:443 --cert gateway.pem --cert-key gateway.key
              wstunnel server --config /etc/wstunnel/gateway.json --log-format json
            """)
        { config, urls, cert, key, logFormat };
        command.TreatUnmatchedTokensAsErrors = false; // --Section:Key=value settings go to configuration

        command.SetAction(async (result, cancellationToken) =>
        {
            // Only Section:Key settings pass to configuration: a mistyped option must not vanish silently.
            if (result.UnmatchedTokens.FirstOrDefault(t => t.StartsWith('-') && !t.TrimStart('-').Split('=')[0].Contains(':', StringComparison.Ordinal)) is { } unknown)
            {
                await Console.Error.WriteLineAsync($"Unknown option '{unknown}'. Settings are given as --Section:Key=value (e.g. --WStunnel:Limits:MaxTunnels=100); see --help.").ConfigureAwait(false);
                return CliExitCodes.ConfigurationError;
            }

            string[] args = [.. result.GetValue(urls) is { } u ? ["--urls", u] : Array.Empty<string>(), .. result.UnmatchedTokens];
            var run = new Run(args, result.GetValue(config)?.FullName, result.GetValue(cert), result.GetValue(key), new ProcessSettings(result.GetValue(logFormat)));
            return await RunAsync(run, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>A gateway to run: host arguments, the configuration file, the TLS certificate and the process settings.</summary>
    public sealed record Run(string[] Args, string? ConfigFile, FileInfo? Certificate, FileInfo? CertificateKey, ProcessSettings Process, Action<WebApplicationBuilder>? Configure = null);

    public static async Task<int> RunAsync(Run run, CancellationToken cancellationToken)
    {
        var configFile = run.ConfigFile ?? (File.Exists("appsettings.json") ? "appsettings.json" : null);
        ServerCertificate? certificate = null;
        Action<IServiceCollection>? reload = null;
        if (run.Certificate is { } certFile)
        {
            if (run.CertificateKey is not { } keyFile)
            {
                await Console.Error.WriteLineAsync("--cert needs --cert-key.").ConfigureAwait(false);
                return CliExitCodes.ConfigurationError;
            }

            var files = new PemCertificateFiles(certFile.FullName, keyFile.FullName);
            try
            {
                (certificate, var fingerprint) = ServerCertificateReloader.LoadInitial(files);
                var loaded = certificate;
                reload = services => services.AddHostedService(provider => new ServerCertificateReloader(
                    loaded, files, fingerprint, provider.GetRequiredService<ILogger<ServerCertificateReloader>>(), TimeProvider.System));
            }
            catch (CertificateFileException ex)
            {
                await Console.Error.WriteLineAsync($"--cert/--cert-key: {ex.Message}").ConfigureAwait(false);
                return CliExitCodes.ConfigurationError;
            }
        }

        WebApplication? app = null;
        try
        {
            using var files = run.Process.Apply();
            app = GatewayApp.Build(run.Args, configFile, certificate, builder =>
            {
                run.Process.ConfigureLogging(builder.Logging);
                reload?.Invoke(builder.Services);
                run.Configure?.Invoke(builder);
            });
            _ = app.Services.GetRequiredService<IOptions<WStunnel.Server.WStunnelOptions>>().Value; // validate before Kestrel starts
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            return CliExitCodes.Success;
        }
        catch (OptionsValidationException ex)
        {
            // Read the same sources again to say where each faulty value came from.
            var sources = GatewayApp.AddSources(new ConfigurationBuilder(), run.Args, configFile).Build();
            await Console.Error.WriteLineAsync(ConfigurationErrors.Describe(ex.Failures, sources)).ConfigureAwait(false);
            return CliExitCodes.ConfigurationError;
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or FormatException)
        {
            // Kestrel's own start-up errors (no certificate for an HTTPS endpoint, port in use, bad route
            // config), unreadable configuration files, log or pid files that cannot be written.
            await Console.Error.WriteLineAsync($"The gateway could not start: {Hosting.StartupError.Describe(ex)}").ConfigureAwait(false);
            return CliExitCodes.ConfigurationError;
        }
        finally
        {
            if (app is not null)
            {
                await app.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
