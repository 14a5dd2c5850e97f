using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace WStunnel.Cli;

/// <summary><c>wstunnel server</c>: the standalone gateway.</summary>
internal static class ServerCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config") { Description = "appsettings-style JSON file with the ReverseProxy and WStunnel sections (default: ./appsettings.json when present)." };
        var urls = new Option<string?>("--urls") { Description = "Addresses to listen on, e.g. https://0.0.0.0:443 (default: Kestrel's configuration)." };
        var cert = new Option<FileInfo?>("--cert") { Description = "PEM certificate (chain) for HTTPS." };
        var key = new Option<FileInfo?>("--cert-key") { Description = "PEM private key of --cert." };
        var command = new Command("server", """
            Run the gateway: YARP with the WStunnel extension. Agents connect to /_tunnel; requests carrying
            a token (Host label, X-Token header, /_token/TOKEN/ prefix) or routed to wstunnel://NAME go through them.

            Example:
              wstunnel server --urls https://0.0.0.0:443 --cert gateway.pem --cert-key gateway.key
            """)
        { config, urls, cert, key };

        command.SetAction(async (result, cancellationToken) =>
        {
            var configFile = result.GetValue(config)?.FullName ?? (File.Exists("appsettings.json") ? "appsettings.json" : null);
            var args = result.GetValue(urls) is { } u ? new[] { "--urls", u } : [];
            X509Certificate2? certificate = null;
            if (result.GetValue(cert) is { } certFile)
            {
                var keyFile = result.GetValue(key);
                if (keyFile is null)
                {
                    await Console.Error.WriteLineAsync("--cert needs --cert-key.").ConfigureAwait(false);
                    return CliExitCodes.ConfigurationError;
                }

                try
                {
                    certificate = X509Certificate2.CreateFromPemFile(certFile.FullName, keyFile.FullName);
                }
                catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
                {
                    await Console.Error.WriteLineAsync($"--cert/--cert-key: cannot load '{certFile}' with '{keyFile}': {ex.Message}").ConfigureAwait(false);
                    return CliExitCodes.ConfigurationError;
                }
            }

            try
            {
                await using var app = GatewayApp.Build(args, configFile, certificate);
                _ = app.Services.GetRequiredService<IOptions<WStunnel.Server.WStunnelOptions>>().Value; // validate before Kestrel starts
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
                await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
                return CliExitCodes.Success;
            }
            catch (OptionsValidationException ex)
            {
                await Console.Error.WriteLineAsync("Configuration error: " + string.Join(Environment.NewLine + "  ", ex.Failures)).ConfigureAwait(false);
                return CliExitCodes.ConfigurationError;
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException)
            {
                // Kestrel's own start-up errors: no certificate for an HTTPS endpoint, port in use, bad route config.
                await Console.Error.WriteLineAsync($"The gateway could not start: {ex.Message}").ConfigureAwait(false);
                return CliExitCodes.ConfigurationError;
            }
        });
        return command;
    }
}
