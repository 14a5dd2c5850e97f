using System.Net;

namespace WStunnel.Agent.Connection;

/// <summary>The gateway (or a proxy) answered the registration with something other than an accepted tunnel.</summary>
internal sealed class GatewayRefusedException(HttpStatusCode status, Exception? inner, string? message = null)
    : Exception(message ?? Describe(status), inner)
{
    public HttpStatusCode Status { get; } = status;

    private static string Describe(HttpStatusCode status) => (int)status switch
    {
        400 => "the gateway refused the registration (400): check that the token is long enough and the URL points at the tunnel endpoint",
        401 or 403 => $"the gateway does not accept this agent or token ({(int)status})",
        404 => "no tunnel endpoint at this URL (404): check the server URL and path",
        407 => "the proxy requires credentials (407): give them in the proxy URL",
        _ => $"the gateway answered {(int)status} instead of opening the tunnel",
    };
}
