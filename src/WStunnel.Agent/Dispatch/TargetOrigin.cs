namespace WStunnel.Agent.Dispatch;

/// <summary>
/// One place the agent sends requests: an <c>http://</c> or <c>https://</c> origin, or a Unix domain
/// socket (<c>unix:/run/app.sock</c>) spoken to in cleartext HTTP, as application servers behind a
/// local web server often listen.
/// </summary>
/// <param name="Key">How <c>X-Host</c> names it: the origin (a socket, only ever the main target, has <c>unix:</c> and its path).</param>
/// <param name="RequestBase">The scheme and authority of the requests' URIs; for a socket <see cref="SocketHost"/>, which connection pooling keeps apart and nothing resolves.</param>
/// <param name="SocketPath">The socket's path, or null for a network origin.</param>
internal sealed record TargetOrigin(string Key, string RequestBase, string? SocketPath)
{
    public const string UnixScheme = "unix";

    /// <summary>The host name requests to a socket carry (a reserved name: only the main target may be a socket).</summary>
    public const string SocketHost = "unix-socket.invalid";

    public static TargetOrigin From(Uri target)
    {
        ArgumentNullException.ThrowIfNull(target);
        return SocketPathOf(target) is { } path
            ? new TargetOrigin(UnixScheme + ":" + path, "http://" + SocketHost, path)
            : new TargetOrigin(target.GetLeftPart(UriPartial.Authority), target.GetLeftPart(UriPartial.Authority), null);
    }

    /// <summary>The origin <paramref name="requested"/> (an <c>X-Host</c> value) names, or null when it names none.</summary>
    public static string? KeyOf(string requested) =>
        Uri.TryCreate(requested, UriKind.Absolute, out var uri) && uri.UserInfo.Length == 0 && uri.Scheme is "http" or "https" && uri.PathAndQuery == "/"
            ? uri.GetLeftPart(UriPartial.Authority)
            : null;

    /// <summary>The absolute socket path of a <c>unix:/path</c> or <c>unix:///path</c> URI, or null.</summary>
    public static string? SocketPathOf(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!uri.IsAbsoluteUri || uri.Scheme != UnixScheme || uri.Host.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            return null;
        }

        var path = Uri.UnescapeDataString(uri.AbsolutePath);
        return path.Length > 1 && path[0] == '/' && !path.EndsWith('/') ? path : null;
    }
}
