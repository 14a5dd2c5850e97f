namespace WStunnel.Server.Configuration;

/// <summary>Reads a named tunnel's token from wherever its options say; errors never contain the token.</summary>
internal static class TunnelTokenSource
{
    public static string Read(WStunnelTunnelOptions options)
    {
        if (!string.IsNullOrEmpty(options.Token))
        {
            return options.Token.Trim();
        }

        if (!string.IsNullOrEmpty(options.TokenFile))
        {
            try
            {
                var token = File.ReadAllText(options.TokenFile).Trim();
                return token.Length > 0 ? token : throw new InvalidOperationException($"TokenFile '{options.TokenFile}' is empty.");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"TokenFile '{options.TokenFile}' cannot be read: {ex.Message}", ex);
            }
        }

        var variable = options.TokenEnvironmentVariable!;
        var value = Environment.GetEnvironmentVariable(variable)?.Trim();
        return string.IsNullOrEmpty(value)
            ? throw new InvalidOperationException($"TokenEnvironmentVariable '{variable}' is not set or empty.")
            : value;
    }
}
