using System.Net;
using System.Net.Http.Headers;

namespace WStunnel.Protocol.Transports;

/// <summary>
/// The gateway (or a proxy before it) answered an agent's registration — a WebSocket upgrade or a
/// long-poll connection — with something other than an open tunnel; the message says what that
/// means, followed by the reason the gateway gave, when it gave one.
/// </summary>
internal sealed class GatewayRefusedException(
    HttpStatusCode status, Exception? inner, string? message = null, TimeSpan? retryAfter = null, string? reason = null, Uri? location = null)
    : Exception((message ?? Describe(status, location)) + (reason is null ? "" : $" — its answer: {reason}"), inner)
{
    public HttpStatusCode Status { get; } = status;

    /// <summary>How long the answer's <c>Retry-After</c> asked the agent to wait; null when it named no time.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>
    /// Whether the gateway asked the agent to wait (too many registrations from its address, or no room
    /// for another tunnel): a registration over the other transport would only be refused alike, or
    /// spend one more of the address's registrations.
    /// </summary>
    public bool AsksToWait => Status is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable;

    /// <summary>Whether the answer sends the agent elsewhere, as it would send a long-poll registration to the same URL.</summary>
    public bool Redirects => (int)Status is >= 300 and < 400;

    /// <summary>
    /// Whether the gateway itself refused this agent the tunnel whatever the transport: another agent
    /// serves it (409). Proxies that refuse WebSockets answer 400, 403 or 405, never this.
    /// </summary>
    public bool TunnelTaken => Status is HttpStatusCode.Conflict;

    /// <summary>The wait a <c>Retry-After</c> value names — seconds, or a date from <paramref name="now"/>; null when there is none.</summary>
    public static TimeSpan? RetryAfterOf(RetryConditionHeaderValue? header, DateTimeOffset now) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date > now ? date - now : TimeSpan.Zero,
        _ => null,
    };

    private static string Describe(HttpStatusCode status, Uri? location) => (int)status switch
    {
        >= 300 and < 400 when location is not null => $"the server redirects the registration ({(int)status}) to {location}: give the gateway's address as it answers there",
        >= 300 and < 400 => $"the server redirects the registration ({(int)status}): give the gateway's address as it answers there",
        400 => "the gateway refused the registration (400): check that the token is long enough and the URL points at the tunnel endpoint",
        401 or 403 => $"the gateway does not accept this agent or token ({(int)status})",
        404 => "no tunnel endpoint at this URL (404): check the server URL and path",
        409 => "another agent serves this tunnel (409)",
        407 => "the proxy requires credentials (407): give them in the proxy URL",
        429 => "the gateway asks this agent to wait: too many registrations from its address (429)",
        503 => "the gateway cannot take this agent now (503)",
        _ => $"the gateway answered {(int)status} instead of opening the tunnel",
    };
}
