namespace WStunnel.Server.Configuration;

/// <summary>
/// Reads a named tunnel's token and agent secret from wherever its options say: the value, a file
/// or an environment variable. Error messages name the setting, never the secret.
/// </summary>
internal static class TunnelSecretSource
{
    public static string ReadToken(WStunnelTunnelOptions options) =>
        Read(options.Token, options.TokenFile, options.TokenEnvironmentVariable, "Token");

    /// <summary>The secret agents must present for this tunnel, or null when the token alone admits them.</summary>
    public static string? ReadAgentSecret(WStunnelTunnelOptions options) =>
        CountAgentSecretSources(options) == 0
            ? null
            : Read(options.AgentSecret, options.AgentSecretFile, options.AgentSecretEnvironmentVariable, "AgentSecret");

    public static int CountTokenSources(WStunnelTunnelOptions options) =>
        Count(options.Token, options.TokenFile, options.TokenEnvironmentVariable);

    public static int CountAgentSecretSources(WStunnelTunnelOptions options) =>
        Count(options.AgentSecret, options.AgentSecretFile, options.AgentSecretEnvironmentVariable);

    private static int Count(params string?[] sources) => sources.Count(s => !string.IsNullOrEmpty(s));

    private static string Read(string? value, string? file, string? variable, string setting)
    {
        if (!string.IsNullOrEmpty(value))
        {
            return value.Trim();
        }

        if (!string.IsNullOrEmpty(file))
        {
            try
            {
                var secret = File.ReadAllText(file).Trim();
                return secret.Length > 0 ? secret : throw new InvalidOperationException($"{setting}File '{file}' is empty.");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"{setting}File '{file}' cannot be read: {ex.Message}", ex);
            }
        }

        var fromEnvironment = Environment.GetEnvironmentVariable(variable!)?.Trim();
        return string.IsNullOrEmpty(fromEnvironment)
            ? throw new InvalidOperationException($"{setting}EnvironmentVariable '{variable}' is not set or empty.")
            : fromEnvironment;
    }
}
