namespace WStunnel.Agent.Configuration;

/// <summary>Reads the agent's token and secret; error messages never contain them.</summary>
internal static class AgentToken
{
    public static string Read(WStunnelAgentOptions options) => ReadValueOrFile(options.Token, options.TokenFile, "TokenFile")!;

    /// <summary>The agent secret, or null when none is configured.</summary>
    public static string? ReadSecret(WStunnelAgentOptions options) => ReadValueOrFile(options.Secret, options.SecretFile, "SecretFile");

    private static string? ReadValueOrFile(string? value, string? file, string setting)
    {
        if (!string.IsNullOrEmpty(value))
        {
            return value.Trim();
        }

        if (string.IsNullOrEmpty(file))
        {
            return null;
        }

        try
        {
            var content = File.ReadAllText(file).Trim();
            return content.Length > 0 ? content : throw new InvalidOperationException($"{setting} '{file}' is empty.");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{setting} '{file}' cannot be read: {ex.Message}", ex);
        }
    }
}
