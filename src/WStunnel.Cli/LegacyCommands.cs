using System.CommandLine;
using System.Globalization;
using WStunnel.Agent;
using WStunnel.Cli.Hosting;

namespace WStunnel.Cli;

/// <summary>
/// The original WStunnel's <c>srv</c> and <c>cli</c> commands with their single-dash flags and their
/// meaning, so existing service definitions keep working. Flags whose feature this implementation
/// does not have are errors that say what to use instead — never silently ignored.
/// </summary>
internal static class LegacyCommands
{
    public static Command Server()
    {
        var port = Flag<int>("port", "port for the http/ws server to listen on (plain HTTP, as the original)", 80);
        var host = Flag<string>("host", "address to listen on", "0.0.0.0");
        var httpTimeout = Flag<int?>("httptimeout", "timeout for http requests in seconds (the whole request, queueing included)");
        var wsTimeout = Flag<int?>("wstimeout", "timeout on websocket in seconds (a silent agent is dropped)", aliases: ["-timeout"]);
        var logFile = Flag<string?>("logfile", "path for log file");
        var pidFile = Flag<string?>("pidfile", "path for pidfile");
        var unsupported = Unsupported(
            ("syslog", "syslog is not available: use -logfile, or --log-format json with your log shipper (wstunnel server)"),
            ("robowhois", "whois lookups are not available"),
            ("lookup", "whois lookups are not available"));
        var command = new Command("srv", """
            The original WStunnel server command, for existing service definitions: listens on plain HTTP
            (-host:-port) as the original did; put TLS in front or use 'wstunnel server' for HTTPS.

            Example:
              wstunnel srv -port 8080 -httptimeout 1200 -logfile /var/log/wstunsrv.log -pidfile /run/wstunsrv.pid
            """)
        { port, host, httpTimeout, wsTimeout, logFile, pidFile };
        foreach (var option in unsupported.Keys)
        {
            command.Options.Add(option);
        }

        command.SetAction(async (result, cancellationToken) =>
        {
            if (await RefuseUnsupportedAsync(result, unsupported).ConfigureAwait(false) is { } refused)
            {
                return refused;
            }

            var args = new List<string> { "--urls", $"http://{Bracketed(result.GetValue(host)!)}:{result.GetValue(port)}" };
            if (result.GetValue(httpTimeout) is { } seconds)
            {
                args.Add($"--WStunnel:RequestTimeout={TimeSpan.FromSeconds(seconds).ToString("c", CultureInfo.InvariantCulture)}");
            }

            if (result.GetValue(wsTimeout) is { } wsSeconds)
            {
                args.Add($"--WStunnel:KeepAliveTimeout={TimeSpan.FromSeconds(wsSeconds).ToString("c", CultureInfo.InvariantCulture)}");
                args.Add($"--WStunnel:KeepAliveInterval={TimeSpan.FromSeconds(Math.Max(1, wsSeconds / 3)).ToString("c", CultureInfo.InvariantCulture)}");
            }

            var process = new ProcessSettings(LogFormat.Text, result.GetValue(logFile), result.GetValue(pidFile));
            return await ServerCommand.RunAsync(new ServerCommand.Run([.. args], null, null, null, process), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    public static Command Client()
    {
        var tunnel = Flag<string?>("tunnel", "websocket server ws[s]://hostname:port to connect to");
        var server = Flag<string>("server", "http server http[s]://hostname:port to send received requests to", "http://localhost");
        var token = Flag<string?>("token", "rendez-vous token identifying this server (token, or token:password); or set WSTUNNEL_TOKEN");
        var insecure = Flag<bool>("insecure", "accept self-signed SSL certs from local HTTPS servers");
        var timeout = Flag<int?>("timeout", "timeout on websocket in seconds");
        var proxy = Flag<string?>("proxy", "use HTTPS proxy http://user:pass@hostname:port");
        var certFile = Flag<string?>("certfile", "path for trusted certificate in PEM format (the gateway's CA)");
        var statusFile = Flag<string?>("statusfile", "path for status file");
        var logFile = Flag<string?>("logfile", "path for log file");
        var pidFile = Flag<string?>("pidfile", "path for pidfile");
        var unsupported = Unsupported(
            ("regexp", "a regular expression of targets cannot be honoured: this agent serves only exact origins; list each with 'wstunnel agent --allow-target URL'"),
            ("client-ports", "client ports are not available: this tunnel carries HTTP requests only"));
        var command = new Command("cli", """
            The original WStunnel client command, for existing service definitions.

            Examples:
              wstunnel cli -tunnel wss://gateway.example.com -server http://localhost:8080 -token my-token-of-16-chars
              WSTUNNEL_TOKEN=... wstunnel cli -tunnel wss://gateway.example.com -server http://localhost:8080
            """)
        { tunnel, server, token, insecure, timeout, proxy, certFile, statusFile, logFile, pidFile };
        foreach (var option in unsupported.Keys)
        {
            command.Options.Add(option);
        }

        command.SetAction(async (result, cancellationToken) =>
        {
            if (await RefuseUnsupportedAsync(result, unsupported).ConfigureAwait(false) is { } refused)
            {
                return refused;
            }

            var errors = new List<string>();
            if (!Uri.TryCreate(result.GetValue(tunnel), UriKind.Absolute, out var tunnelUri) || tunnelUri.Scheme is not ("ws" or "wss"))
            {
                errors.Add("-tunnel must be the gateway's websocket address, ws://host:port or wss://host:port.");
            }
            else if (tunnelUri.UserInfo.Length > 0)
            {
                errors.Add("-tunnel with user:pass@ cannot be honoured: this agent does not send basic authentication to the gateway; use a token with a password (-token token:password) or a client certificate.");
            }

            if (!Uri.TryCreate(result.GetValue(server), UriKind.Absolute, out var serverUri) || serverUri.Scheme is not ("http" or "https"))
            {
                errors.Add("-server must be the local http server, http[s]://hostname:port.");
            }

            Uri? proxyUri = null;
            if (result.GetValue(proxy) is { } p && !Uri.TryCreate(p, UriKind.Absolute, out proxyUri))
            {
                errors.Add("-proxy must be http://[user:pass@]hostname:port.");
            }

            if (errors.Count > 0)
            {
                await Console.Error.WriteLineAsync(string.Join(Environment.NewLine, errors)).ConfigureAwait(false);
                return CliExitCodes.ConfigurationError;
            }

            // The original's "token:password": the password is what this gateway calls the tunnel's agent secret.
            var (tokenValue, password) = result.GetValue(token) is { } t && t.IndexOf(':', StringComparison.Ordinal) is var colon and > 0
                ? (t[..colon], t[(colon + 1)..])
                : (result.GetValue(token), null);
            var run = new AgentCommand.Run(
                options =>
                {
                    // The original's tunnel URL is the host alone; its agents registered at /_tunnel as ours do.
                    options.Server = tunnelUri!;
                    options.Insecure |= tunnelUri!.Scheme == "ws"; // the original allowed an unencrypted tunnel; so does this, loudly
                    options.Target = new Uri(serverUri!.GetLeftPart(UriPartial.Authority));
                    options.Token = tokenValue ?? options.Token;
                    options.Secret = password ?? options.Secret;
                    options.InsecureTarget |= result.GetValue(insecure);
                    options.Proxy = proxyUri ?? options.Proxy;
                    options.CaCertificateFile = result.GetValue(certFile) ?? options.CaCertificateFile;
                    options.StatusFile = result.GetValue(statusFile) ?? options.StatusFile;
                    if (result.GetValue(timeout) is { } seconds)
                    {
                        options.KeepAliveTimeout = TimeSpan.FromSeconds(seconds);
                        options.KeepAliveInterval = TimeSpan.FromSeconds(Math.Max(1, seconds / 3));
                    }
                },
                TokenOnCommandLine: tokenValue is not null,
                ConfigFile: null,
                new ProcessSettings(LogFormat.Text, result.GetValue(logFile), result.GetValue(pidFile)));
            return await AgentCommand.RunAsync(run, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>A flag as the original spelled it (<c>-name</c>), also accepted as <c>--name</c>.</summary>
    private static Option<T> Flag<T>(string name, string description, T? defaultValue = default, string[]? aliases = null)
    {
        var option = new Option<T>("-" + name, ["--" + name, .. aliases ?? []]) { Description = description };
        if (defaultValue is not null)
        {
            option.DefaultValueFactory = _ => defaultValue;
        }

        return option;
    }

    private static Dictionary<Option<string?>, string> Unsupported(params (string Name, string Reason)[] flags) =>
        flags.ToDictionary(f => Flag<string?>(f.Name, "(not supported) " + f.Reason), f => f.Reason);

    private static async Task<int?> RefuseUnsupportedAsync(ParseResult result, Dictionary<Option<string?>, string> unsupported)
    {
        foreach (var (option, reason) in unsupported)
        {
            if (result.GetResult(option) is { Implicit: false })
            {
                await Console.Error.WriteLineAsync($"{option.Name}: {reason}.").ConfigureAwait(false);
                return CliExitCodes.ConfigurationError;
            }
        }

        return null;
    }

    private static string Bracketed(string host) => host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host;
}
