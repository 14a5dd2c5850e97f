using Microsoft.Extensions.Options;
using WStunnel.Agent.Security;

namespace WStunnel.Agent.Configuration;

/// <summary>Checks agent options at start-up; every message names the setting.</summary>
internal sealed class AgentOptionsValidator : IValidateOptions<WStunnelAgentOptions>
{
    public const int MinimumTokenLength = 16;

    public ValidateOptionsResult Validate(string? name, WStunnelAgentOptions options)
    {
        var errors = new List<string>();
        const string Section = WStunnelAgentOptions.SectionName;
        if (options.Server is null)
        {
            errors.Add($"{Section}:Server is required (e.g. wss://gateway.example.com).");
        }
        else if (!options.Server.IsAbsoluteUri || options.Server.Scheme is not ("wss" or "https" or "ws" or "http"))
        {
            errors.Add($"{Section}:Server must be a wss:// URL (got '{options.Server}').");
        }
        else if (options.Server.Scheme is "ws" or "http" && !options.Insecure)
        {
            errors.Add($"{Section}:Server uses {options.Server.Scheme}://, which is not encrypted; use wss:// or set Insecure.");
        }

        if (string.IsNullOrEmpty(options.Token) == string.IsNullOrEmpty(options.TokenFile))
        {
            errors.Add($"{Section}: set exactly one of Token or TokenFile.");
        }
        else
        {
            try
            {
                if (AgentToken.Read(options).Length < MinimumTokenLength)
                {
                    errors.Add($"{Section}:Token must be at least {MinimumTokenLength} characters.");
                }
            }
            catch (InvalidOperationException ex)
            {
                errors.Add($"{Section}:{ex.Message}");
            }
        }

        if (!string.IsNullOrEmpty(options.Secret) && !string.IsNullOrEmpty(options.SecretFile))
        {
            errors.Add($"{Section}: set at most one of Secret or SecretFile.");
        }
        else
        {
            try
            {
                AgentToken.ReadSecret(options);
            }
            catch (InvalidOperationException ex)
            {
                errors.Add($"{Section}:{ex.Message}");
            }
        }

        try
        {
            AgentClientCertificate.Load(options)?.Dispose();
        }
        catch (InvalidOperationException ex)
        {
            errors.Add($"{Section}:{ex.Message}");
        }

        if (!IsTarget(options.Target))
        {
            errors.Add($"{Section}:Target must be an origin such as http://localhost:80, without a path or user, or a Unix socket such as unix:/run/app.sock (got '{options.Target}').");
        }

        for (var i = 0; i < options.AllowedTargets.Count; i++)
        {
            var allowed = options.AllowedTargets[i];
            if (!IsOrigin(allowed))
            {
                errors.Add($"{Section}:AllowedTargets:{i} must be an origin such as http://printer.lan:8080, without a path or user (got '{allowed}').");
            }
        }

        if (options.CaCertificateFile is { } ca && !File.Exists(ca))
        {
            errors.Add($"{Section}:CaCertificateFile '{ca}' does not exist.");
        }

        if (options.TargetCaCertificateFile is { } targetCa)
        {
            if (!File.Exists(targetCa))
            {
                errors.Add($"{Section}:TargetCaCertificateFile '{targetCa}' does not exist.");
            }
            else if (options.InsecureTarget)
            {
                errors.Add($"{Section}:TargetCaCertificateFile is set together with InsecureTarget, which accepts any target certificate: choose one.");
            }
            else
            {
                try
                {
                    ServerCertificateValidator.FromFile(targetCa, "TargetCaCertificateFile");
                }
                catch (Exception ex) when (ex is InvalidOperationException or System.Security.Cryptography.CryptographicException)
                {
                    errors.Add($"{Section}:{ex.Message}");
                }
            }
        }

        if (options.Proxy is { } proxy && (!proxy.IsAbsoluteUri || proxy.Scheme != "http"))
        {
            errors.Add($"{Section}:Proxy must be an http:// URL of an HTTP CONNECT proxy (got scheme '{proxy.Scheme}').");
        }

        if (options.ReconnectDelay <= TimeSpan.Zero || options.MaxReconnectDelay < options.ReconnectDelay)
        {
            errors.Add($"{Section}:ReconnectDelay must be positive and no larger than MaxReconnectDelay.");
        }

        if (options.KeepAliveTimeout <= options.KeepAliveInterval || options.KeepAliveInterval <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:KeepAliveTimeout must be longer than KeepAliveInterval, and both positive.");
        }

        if (options.ConnectTimeout <= TimeSpan.Zero || options.TargetResponseTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:ConnectTimeout and TargetResponseTimeout must be positive.");
        }

        if (options.MaxConcurrentRequests < 1 || options.StreamWindow < 64 * 1024 || options.SessionWindow < options.StreamWindow)
        {
            errors.Add($"{Section}: MaxConcurrentRequests must be at least 1, StreamWindow at least 65536 and SessionWindow at least StreamWindow.");
        }

        if (options.WebSocketHandshakeTimeout <= TimeSpan.Zero || options.WebSocketRetryInterval <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:WebSocketHandshakeTimeout and WebSocketRetryInterval must be positive.");
        }

        if (options.ResumeWindow < TimeSpan.Zero)
        {
            errors.Add($"{Section}:ResumeWindow must not be negative.");
        }

        if (options.MaxReplayBytes < 64 * 1024)
        {
            errors.Add($"{Section}:MaxReplayBytes must be at least 65536 (got {options.MaxReplayBytes}).");
        }

        if (options.MaxHeaderBytes is < 1024 or > 64 * 1024)
        {
            errors.Add($"{Section}:MaxHeaderBytes must be between 1024 and 65536 (got {options.MaxHeaderBytes}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>An origin, or <c>unix:</c> with an absolute socket path (only the main target: <c>X-Host</c> names origins).</summary>
    private static bool IsTarget(Uri target) => IsOrigin(target) || (target.IsAbsoluteUri && Dispatch.TargetOrigin.SocketPathOf(target) is not null);

    /// <summary>An <c>http(s)://</c> origin without path or user.</summary>
    private static bool IsOrigin(Uri target) =>
        target.IsAbsoluteUri && target.Scheme is "http" or "https" && target.PathAndQuery == "/" && target.UserInfo.Length == 0;
}
