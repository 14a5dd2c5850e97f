namespace WStunnel.Agent.Configuration;

/// <summary>Reads the agent's token; error messages never contain it.</summary>
internal static class AgentToken
{
    public static string Read(WStunnelAgentOptions options)
    {
        if (!string.IsNullOrEmpty(options.Token))
        {
            return options.Token.Trim();
        }

        try
        {
            var token = File.ReadAllText(options.TokenFile!).Trim();
            return token.Length > 0 ? token : throw new InvalidOperationException($"TokenFile '{options.TokenFile}' is empty.");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"TokenFile '{options.TokenFile}' cannot be read: {ex.Message}", ex);
        }
    }
}
