using Microsoft.Extensions.Logging;
using WStunnel.Agent.Diagnostics;

namespace WStunnel.Agent.Configuration;

/// <summary>
/// The token and secret the agent announces. Those kept in files (<c>TokenFile</c>, <c>SecretFile</c>)
/// are read again before every connection to the gateway, so a rotated token or secret is announced
/// from the next connection on without a restart — as the gateway takes up its own files. A file that
/// cannot be used (moved, emptied, half written) leaves the current value in place, with one warning
/// per reason.
/// </summary>
internal sealed class AgentCredentials
{
    private readonly WStunnelAgentOptions _options;
    private readonly ILogger _logger;
    private string? _refused;

    public AgentCredentials(WStunnelAgentOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger;
        Token = AgentToken.Read(options);
        Secret = AgentToken.ReadSecret(options);
        Fingerprint = FingerprintOf(Token);
    }

    /// <summary>The token announced now.</summary>
    public string Token { get; private set; }

    /// <summary>The agent secret announced now, or null.</summary>
    public string? Secret { get; private set; }

    /// <summary>What logs call the token: the first bytes of its SHA-256, never the token.</summary>
    public string Fingerprint { get; private set; }

    /// <summary>Before a connection: takes up changed files. True when the token changed (the secret may have too).</summary>
    public bool Refresh()
    {
        if (string.IsNullOrEmpty(_options.TokenFile) && string.IsNullOrEmpty(_options.SecretFile))
        {
            return false;
        }

        string token;
        string? secret;
        try
        {
            token = AgentToken.Read(_options);
            secret = AgentToken.ReadSecret(_options);
            if (token.Length < AgentOptionsValidator.MinimumTokenLength)
            {
                throw new InvalidOperationException($"the token in TokenFile '{_options.TokenFile}' is shorter than {AgentOptionsValidator.MinimumTokenLength} characters");
            }
        }
        catch (InvalidOperationException ex)
        {
            if (ex.Message != _refused)
            {
                _refused = ex.Message; // messages name the file and the setting, never the value
                AgentLog.CredentialsNotReloaded(_logger, ex.Message, Fingerprint);
            }

            return false;
        }

        _refused = null;
        var tokenChanged = token != Token;
        var secretChanged = secret != Secret;
        if (!tokenChanged && !secretChanged)
        {
            return false;
        }

        var previous = Fingerprint;
        Token = token;
        Secret = secret;
        Fingerprint = FingerprintOf(token);
        if (tokenChanged)
        {
            AgentLog.TokenReloaded(_logger, previous, Fingerprint);
        }

        if (secretChanged)
        {
            AgentLog.SecretReloaded(_logger, Fingerprint);
        }

        return tokenChanged;
    }

    /// <summary>The first four bytes of the token's SHA-256, in hex: enough to tell tokens apart in logs.</summary>
    public static string FingerprintOf(string token)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token));
        return Convert.ToHexStringLower(hash.AsSpan(0, 4));
    }
}
