using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WStunnel.Agent;

namespace WStunnel.Cli;

/// <summary><c>wstunnel agent</c>: the program beside the hidden server.</summary>
internal static partial class AgentCommand
{
    public const string TokenEnvironmentVariable = "WSTUNNEL_TOKEN";
    public const string SecretEnvironmentVariable = "WSTUNNEL_SECRET";

    public static Command Create()
    {
        var server = new Option<string>("--server") { Description = "The gateway, e.g. wss://gateway.example.com (path defaults to /_tunnel).", Required = true };
        var tokenFile = new Option<FileInfo?>("--token-file") { Description = $"File holding the token (at least 16 characters). Or set {TokenEnvironmentVariable}." };
        var token = new Option<string?>("--token") { Description = "The token itself. Visible to other users in the process list: prefer --token-file." };
        var secretFile = new Option<FileInfo?>("--secret-file") { Description = $"File holding the tunnel's agent secret, where the gateway requires one. Or set {SecretEnvironmentVariable}." };
        var clientCert = new Option<FileInfo?>("--client-cert") { Description = "Client certificate for gateways that require one: PEM (with --client-key) or a PFX without a password." };
        var clientKey = new Option<FileInfo?>("--client-key") { Description = "PEM private key of --client-cert." };
        var target = new Option<string>("--target") { Description = "Local server to replay requests against.", DefaultValueFactory = _ => "http://localhost:80" };
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
        var command = new Command("agent", """
            Run an agent: dial out to the gateway over wss, announce the token and replay the gateway's
            requests against the local target. Reconnects forever with backoff.

            Examples:
              wstunnel agent --server wss://gateway.example.com --token-file /etc/wstunnel/token --target http://localhost:8080
              WSTUNNEL_TOKEN=... wstunnel agent --server wss://gateway.example.com --proxy http://proxy.corp:3128
            """)
        { server, tokenFile, token, secretFile, clientCert, clientKey, target, allowTarget, transport, targetHttp2, caCert, insecure, proxy };

        command.SetAction(async (result, cancellationToken) =>
        {
            var errors = new List<string>();
            var serverUri = ParseUri(result.GetValue(server), "--server", errors);
            var targetUri = ParseUri(result.GetValue(target), "--target", errors);
            var proxyUri = result.GetValue(proxy) is { } p ? ParseUri(p, "--proxy", errors) : null;
            var allowedTargets = (result.GetValue(allowTarget) ?? []).Select(t => ParseUri(t, "--allow-target", errors)).ToList();
            if (errors.Count > 0)
            {
                await Console.Error.WriteLineAsync(string.Join(Environment.NewLine, errors)).ConfigureAwait(false);
                return CliExitCodes.ConfigurationError;
            }

            var tokenValue = result.GetValue(token);
            var fileValue = result.GetValue(tokenFile)?.FullName;
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddEnvironmentVariables("WSTUNNEL__");
            if (tokenValue is not null)
            {
                builder.Services.AddSingleton<IHostedService, TokenOnCommandLineWarning>();
            }
            else if (fileValue is null && Environment.GetEnvironmentVariable(TokenEnvironmentVariable) is { Length: > 0 } fromEnvironment)
            {
                tokenValue = fromEnvironment;
            }

            builder.Services.AddWStunnelAgent(options =>
            {
                options.Server = serverUri;
                options.Token = tokenValue;
                options.TokenFile = fileValue;
                options.SecretFile = result.GetValue(secretFile)?.FullName ?? options.SecretFile;
                options.ClientCertificateFile = result.GetValue(clientCert)?.FullName ?? options.ClientCertificateFile;
                options.ClientKeyFile = result.GetValue(clientKey)?.FullName ?? options.ClientKeyFile;
                if (options.SecretFile is null && Environment.GetEnvironmentVariable(SecretEnvironmentVariable) is { Length: > 0 } secret)
                {
                    options.Secret = secret;
                }

                options.Target = targetUri!;
                foreach (var allowed in allowedTargets)
                {
                    options.AllowedTargets.Add(allowed!);
                }
                options.Transport = result.GetValue(transport);
                options.TargetHttp2 = result.GetValue(targetHttp2);
                options.CaCertificateFile = result.GetValue(caCert)?.FullName;
                options.Insecure = result.GetValue(insecure);
                options.Proxy = proxyUri ?? options.Proxy;
            });

            try
            {
                using var host = builder.Build();
                _ = host.Services.GetRequiredService<IOptions<WStunnelAgentOptions>>().Value; // validate before the host logs a stack trace
                await host.RunAsync(cancellationToken).ConfigureAwait(false);
                return CliExitCodes.Success;
            }
            catch (OptionsValidationException ex)
            {
                await Console.Error.WriteLineAsync("Configuration error: " + string.Join(Environment.NewLine + "  ", ex.Failures)).ConfigureAwait(false);
                return CliExitCodes.ConfigurationError;
            }
        });
        return command;
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
