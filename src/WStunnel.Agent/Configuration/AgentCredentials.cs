using Microsoft.Extensions.Logging;
using WStunnel.Agent.Diagnostics;

namespace WStunnel.Agent.Configuration;

/// <summary>
/// The token and secret the agent announces. Those kept in files (<c>TokenFile</c>, <c>SecretFile</c>)
/// are read again before every connection to the gateway (and on SIGHUP with <c>wstunnel agent</c>), so
/// a rotated token or secret is announced from the next connection on without a restart — as the
/// gateway takes up its own files. A file that cannot be used (moved, emptied, half written) leaves
/// the current value in place, with one warning per reason.
/// </summary>
internal sealed class AgentCredentials
{
    private readonly WStunnelAgentOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _refreshing = new();
    private Credentials _current;
    private string? _refused;

    public AgentCredentials(WStunnelAgentOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger;
        _current = new Credentials(AgentToken.Read(options), AgentToken.ReadSecret(options));
    }

    /// <summary>The token and secret announced now, read together.</summary>
    public Credentials Current => Volatile.Read(ref _current);

    /// <summary>Takes up changed files and says what changed.</summary>
    public CredentialChange Refresh()
    {
        if (string.IsNullOrEmpty(_options.TokenFile) && string.IsNullOrEmpty(_options.SecretFile))
        {
            return CredentialChange.None;
        }

        lock (_refreshing)
        {
            var current = Current;
            Credentials read;
            try
            {
                read = new Credentials(AgentToken.Read(_options), AgentToken.ReadSecret(_options));
                if (read.Token.Length < AgentOptionsValidator.MinimumTokenLength)
                {
                    throw new InvalidOperationException($"the token in TokenFile '{_options.TokenFile}' is shorter than {AgentOptionsValidator.MinimumTokenLength} characters");
                }
            }
            catch (InvalidOperationException ex)
            {
                if (ex.Message != _refused)
                {
                    _refused = ex.Message; // messages name the file and the setting, never the value
                    AgentLog.CredentialsNotReloaded(_logger, ex.Message, current.Fingerprint);
                }

                return CredentialChange.None;
            }

            _refused = null;
            var change = (read.Token != current.Token ? CredentialChange.Token : CredentialChange.None)
                | (read.Secret != current.Secret ? CredentialChange.Secret : CredentialChange.None);
            if (change == CredentialChange.None)
            {
                return change;
            }

            Volatile.Write(ref _current, read);
            if (change.HasFlag(CredentialChange.Token))
            {
                AgentLog.TokenReloaded(_logger, current.Fingerprint, read.Fingerprint);
            }

            if (change.HasFlag(CredentialChange.Secret))
            {
                AgentLog.SecretReloaded(_logger, read.Fingerprint);
            }

            return change;
        }
    }

    /// <summary>A token with its secret.</summary>
    internal sealed record Credentials(string Token, string? Secret)
    {
        /// <summary>What logs call the token: the first four bytes of its SHA-256 in hex, never the token.</summary>
        public string Fingerprint { get; } = FingerprintOf(Token);

        private static string FingerprintOf(string token)
        {
            var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token));
            return Convert.ToHexStringLower(hash.AsSpan(0, 4));
        }
    }
}

/// <summary>What a refresh of the agent's token and secret files changed.</summary>
[Flags]
internal enum CredentialChange
{
    None = 0,
    Secret = 1,
    Token = 2,
}
