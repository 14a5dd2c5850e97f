using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Agent;
using WStunnel.Cli.Hosting;

namespace WStunnel.Cli;

/// <summary><c>wstunnel agent</c>: the program beside the hidden server.</summary>
internal static partial class AgentCommand
{
    public const string TokenEnvironmentVariable = "WSTUNNEL_TOKEN";
    public const string SecretEnvironmentVariable = "WSTUNNEL_SECRET";

    public static Command Create()
    {
        var server = new Option<string?>("--server") { Description = "The gateway, e.g. wss://gateway.example.com (path defaults to /_tunnel)." };
        var tokenFile = new Option<FileInfo?>("--token-file") { Description = $"File holding the token (at least 16 characters), read again before each connection and on SIGHUP, so a rotated token needs no restart. Or set {TokenEnvironmentVariable}." };
        var token = new Option<string?>("--token") { Description = "The token itself. Visible to other users in the process list: prefer --token-file." };
        var secretFile = new Option<FileInfo?>("--secret-file") { Description = $"File holding the tunnel's agent secret, where the gateway requires one; read again before each connection. Or set {SecretEnvironmentVariable}." };
        var clientCert = new Option<FileInfo?>("--client-cert") { Description = "Client certificate for gateways that require one: PEM (with --client-key) or a PFX without a password." };
        var clientKey = new Option<FileInfo?>("--client-key") { Description = "PEM private key of --client-cert." };
        var target = new Option<string?>("--target") { Description = "Local server to replay requests against (default: http://localhost:80), or its Unix socket: unix:/run/app.sock." };
        var allowTarget = new Option<string[]>("--allow-target")
        {
            Description = "A further origin (scheme://host:port) the gateway may select per request with X-Host; repeat for more. Only exact origins.",
            AllowMultipleArgumentsPerToken = false,
        };
        var transport = new Option<AgentTransport>("--transport")
        {
            Description = "auto: WebSocket, falling back to HTTPS long-poll when WebSockets cannot pass; websocket; longpoll.",
            DefaultValueFactory = _ => AgentTransport.Auto,
        };
        var targetHttp2 = new Option<bool>("--target-http2") { Description = "Speak HTTP/2 to the target (h2c for http://): for gRPC and other trailer users." };
        var caCert = new Option<FileInfo?>("--ca-cert") { Description = "PEM file of a private CA that signed the gateway's certificate." };
        var insecure = new Option<bool>("--insecure") { Description = "Do not verify the gateway's certificate (dangerous; logged loudly)." };
        var proxy = new Option<string?>("--proxy") { Description = "HTTP CONNECT proxy, http://[user:pass@]host:port. Default: HTTPS_PROXY / NO_PROXY." };
        var insecureTarget = new Option<bool>("--insecure-target") { Description = "Accept any certificate from an https:// target (a local server with a self-signed one)." };
        var targetCaCert = new Option<FileInfo?>("--target-ca-cert") { Description = "PEM file of a private CA that signed an https:// target's certificate (its host name is still checked)." };
        var statusFile = new Option<FileInfo?>("--status-file") { Description = "JSON file kept up to date with the agent's state (connected, transport, since, last error)." };
        var config = new Option<FileInfo?>("--config") { Description = "JSON file with a WStunnelAgent section (default: ./appsettings.json when present); options given here override it." };
        var logFormat = CommonOptions.LogFormat();
        var command = new Command("agent", """
            Run an agent: dial out to the gateway over wss, announce the token and replay the gateway's
            requests against the local target. Reconnects forever with backoff.
            Settings: the --config file's WStunnelAgent section, then WSTUNNEL__WStunnelAgent__* environment
            variables, then the options below, each overriding the one before.

            Examples:
              wstunnel agent --server wss://gateway.example.com --token-file /etc/wstunnel/token --target http://localhost:8080
              WSTUNNEL_TOKEN=... wstunnel agent --server wss://gateway.example.com --proxy http://proxy.corp:3128
              wstunnel agent --config /etc/wstunnel/agent.json --status-file /run/wstunnel/status.json --log-format json
            """)
        {
            server, tokenFile, token, secretFile, clientCert, clientKey, target, allowTarget, transport, targetHttp2, caCert, insecure, proxy,
            insecureTarget, targetCaCert, statusFile, config, logFormat,
        };

        command.SetAction(async (result, cancellationToken) =>
        {
            var errors = new List<string>();
            var serverUri = result.GetValue(server) is { } s ? ParseUri(s, "--server", errors) : null;
            var targetUri = result.GetValue(target) is { } t ? ParseUri(t, "--target", errors) : null;
            var proxyUri = result.GetValue(proxy) is { } p ? ParseUri(p, "--proxy", errors) : null;
            var allowedTargets = (result.GetValue(allowTarget) ?? []).Select(t => ParseUri(t, "--allow-target", errors)).ToList();
            if (errors.Count > 0)
            {
                await Console.Error.WriteLineAsync(string.Join(Environment.NewLine, errors)).ConfigureAwait(false);
                return CliExitCodes.ConfigurationError;
            }

            var tokenValue = result.GetValue(token);
            var run = new Run(
                options =>
                {
                    options.Server = serverUri ?? options.Server;
                    options.Target = targetUri ?? options.Target;
                    options.Token = tokenValue ?? options.Token;
                    options.TokenFile = result.GetValue(tokenFile)?.FullName ?? options.TokenFile;
                    options.SecretFile = result.GetValue(secretFile)?.FullName ?? options.SecretFile;
                    options.ClientCertificateFile = result.GetValue(clientCert)?.FullName ?? options.ClientCertificateFile;
                    options.ClientKeyFile = result.GetValue(clientKey)?.FullName ?? options.ClientKeyFile;
                    foreach (var allowed in allowedTargets)
                    {
                        options.AllowedTargets.Add(allowed!);
                    }

                    options.Transport = result.GetResult(transport) is { Implicit: false } ? result.GetValue(transport) : options.Transport;
                    options.TargetHttp2 |= result.GetValue(targetHttp2);
                    options.CaCertificateFile = result.GetValue(caCert)?.FullName ?? options.CaCertificateFile;
                    options.Insecure |= result.GetValue(insecure);
                    options.InsecureTarget |= result.GetValue(insecureTarget);
                    options.TargetCaCertificateFile = result.GetValue(targetCaCert)?.FullName ?? options.TargetCaCertificateFile;
                    options.Proxy = proxyUri ?? options.Proxy;
                    options.StatusFile = result.GetValue(statusFile)?.FullName ?? options.StatusFile;
                },
                TokenOnCommandLine: tokenValue is not null,
                result.GetValue(config)?.FullName,
                new ProcessSettings(result.GetValue(logFormat)));
            return await RunAsync(run, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>An agent to run: the options the command line sets (over the configuration's), and the process settings.</summary>
    public sealed record Run(Action<WStunnelAgentOptions> Configure, bool TokenOnCommandLine, string? ConfigFile, ProcessSettings Process);

    public static async Task<int> RunAsync(Run run, CancellationToken cancellationToken)
    {
        SocketCompletions.RunInlineUnlessSet(); // `agent` and the original's `cli` alike
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = Directory.GetCurrentDirectory(),
            Configuration = WorkingDirectoryWatch.Off(),
        });
        builder.Configuration.Sources.Clear();
        var configFile = run.ConfigFile ?? (File.Exists("appsettings.json") ? "appsettings.json" : null);
        if (configFile is not null)
        {
            builder.Configuration.Sources.Add(new ConfigurationFileSource(configFile, watch: false));
        }

        builder.Configuration.AddEnvironmentVariables("WSTUNNEL__");
        run.Process.ConfigureLogging(builder.Logging);
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        if (run.TokenOnCommandLine)
        {
            builder.Services.AddSingleton<IHostedService, TokenOnCommandLineWarning>();
        }

        builder.Services.AddWStunnelAgent(options =>
        {
            run.Configure(options);
            // The token and secret may also come from the environment, never from a file the user did not name.
            if (options.Token is null && options.TokenFile is null && Environment.GetEnvironmentVariable(TokenEnvironmentVariable) is { Length: > 0 } fromEnvironment)
            {
                options.Token = fromEnvironment;
            }

            if (options.Secret is null && options.SecretFile is null && Environment.GetEnvironmentVariable(SecretEnvironmentVariable) is { Length: > 0 } secret)
            {
                options.Secret = secret;
            }
        });

        builder.Services.AddHostedService<Hosting.AgentReloadOnHangUp>();

        IHost? host = null;
        try
        {
            using var files = run.Process.Apply();
            host = builder.Build();
            _ = host.Services.GetRequiredService<IOptions<WStunnelAgentOptions>>().Value; // validate before the host logs a stack trace
            await host.RunAsync(cancellationToken).ConfigureAwait(false);
            return CliExitCodes.Success;
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync(ConfigurationErrors.Describe(ex.Failures, builder.Configuration)).ConfigureAwait(false);
            return CliExitCodes.ConfigurationError;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or FormatException)
        {
            await Console.Error.WriteLineAsync($"The agent could not start: {Hosting.StartupError.Describe(ex)}").ConfigureAwait(false);
            return CliExitCodes.ConfigurationError;
        }
        finally
        {
            host?.Dispose();
        }
    }

    private static Uri? ParseUri(string? value, string option, List<string> errors)
    {
        if (Uri.TryCreate(value, UriKind.Absolute, out var uri))
        {
            return uri;
        }

        errors.Add($"{option}: '{Redact(value)}' is not an absolute URL.");
        return null;
    }

    /// <summary>Proxy URLs may carry credentials; never echo them.</summary>
    private static string Redact(string? value) => value is null ? "" : System.Text.RegularExpressions.Regex.Replace(value, "//[^/@]*@", "//***@");

    private sealed partial class TokenOnCommandLineWarning(ILogger<TokenOnCommandLineWarning> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            Warn(logger);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(3001, LogLevel.Warning, "The agent's secret came from a command-line argument, which other users of this machine can read in the process list; prefer a file or the WSTUNNEL_TOKEN variable")]
        private static partial void Warn(ILogger logger);
    }
}
