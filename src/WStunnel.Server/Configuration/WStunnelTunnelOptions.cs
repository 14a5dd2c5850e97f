namespace WStunnel.Server;

/// <summary>
/// A named tunnel: which token may serve it. Give exactly one of <see cref="Token"/>,
/// <see cref="TokenFile"/> or <see cref="TokenEnvironmentVariable"/>, so no secret has to sit in routes.
/// </summary>
public sealed class WStunnelTunnelOptions
{
    /// <summary>The token itself (prefer a file or an environment variable).</summary>
    public string? Token { get; set; }

    /// <summary>A file whose content (trimmed) is the token.</summary>
    public string? TokenFile { get; set; }

    /// <summary>An environment variable that holds the token.</summary>
    public string? TokenEnvironmentVariable { get; set; }
}
