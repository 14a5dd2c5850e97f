using System.Net;
using Microsoft.Extensions.Logging;

namespace WStunnel.Server.Diagnostics;

/// <summary>The gateway's log events. Tunnels appear by name or token fingerprint, never by token.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(1001, LogLevel.Information, "Agent connected to tunnel {Tunnel} from {RemoteAddress} over {Transport} (session {SessionId})")]
    public static partial void AgentConnected(ILogger logger, string tunnel, IPAddress? remoteAddress, string transport, Guid sessionId);

    [LoggerMessage(1002, LogLevel.Information, "Agent left tunnel {Tunnel} (session {SessionId}): {Reason}")]
    public static partial void AgentDisconnected(ILogger logger, string tunnel, Guid sessionId, string reason);

    [LoggerMessage(1003, LogLevel.Warning, "Agent session {SessionId} on tunnel {Tunnel} ended with a protocol error: {Reason}")]
    public static partial void ProtocolError(ILogger logger, string tunnel, Guid sessionId, string reason);

    [LoggerMessage(1004, LogLevel.Information, "Agent session {NewSessionId} replaces session {OldSessionId} on tunnel {Tunnel}")]
    public static partial void SessionReplaced(ILogger logger, string tunnel, Guid newSessionId, Guid oldSessionId);

    [LoggerMessage(1007, LogLevel.Information, "Agent resumed session {SessionId} of tunnel {Tunnel} from {RemoteAddress} over {Transport}")]
    public static partial void SessionResumed(ILogger logger, string tunnel, IPAddress? remoteAddress, string transport, Guid sessionId);

    [LoggerMessage(1008, LogLevel.Warning, "Connection of session {SessionId} on tunnel {Tunnel} lost ({Reason}); its requests wait up to {ResumeWindow} for the agent to resume")]
    public static partial void ConnectionLost(ILogger logger, string tunnel, Guid sessionId, string reason, TimeSpan resumeWindow);

    [LoggerMessage(1005, LogLevel.Warning, "Agent registration from {RemoteAddress} refused with {StatusCode}: {Reason}")]
    public static partial void RegistrationRefused(ILogger logger, IPAddress? remoteAddress, int statusCode, string reason);

    [LoggerMessage(1006, LogLevel.Warning, "Agent handshake from {RemoteAddress} failed: {Reason}")]
    public static partial void HandshakeFailed(ILogger logger, IPAddress? remoteAddress, string reason);

    [LoggerMessage(1010, LogLevel.Debug, "Request for unknown tunnel token {Fingerprint} answered 404")]
    public static partial void UnknownToken(ILogger logger, string fingerprint);

    [LoggerMessage(1016, LogLevel.Warning, "Requests for unknown tunnels from {RemoteAddress} answered 429: over WStunnel:RateLimits:UnknownTokenRequestsPerMinute")]
    public static partial void UnknownTokensLimited(ILogger logger, IPAddress? remoteAddress);

    [LoggerMessage(1011, LogLevel.Information, "Request for tunnel {Tunnel} answered 502: no agent is connected")]
    public static partial void TunnelOffline(ILogger logger, string tunnel);

    [LoggerMessage(1012, LogLevel.Warning, "Request head for tunnel {Tunnel} is too large: {Reason}")]
    public static partial void HeadersTooLarge(ILogger logger, string tunnel, string reason);

    [LoggerMessage(1013, LogLevel.Warning, "Request for tunnel {Tunnel} answered 503: its queue is full")]
    public static partial void QueueFull(ILogger logger, string tunnel);

    [LoggerMessage(1014, LogLevel.Warning, "Request for tunnel {Tunnel} answered 504: its agent did not come back within {Timeout}")]
    public static partial void QueueTimedOut(ILogger logger, string tunnel, TimeSpan timeout);

    [LoggerMessage(1015, LogLevel.Warning, "Request for tunnel {Tunnel} answered 504: no response within the request timeout of {Timeout}")]
    public static partial void RequestTimedOut(ILogger logger, string tunnel, TimeSpan timeout);

    [LoggerMessage(1009, LogLevel.Warning, "Agent registration for tunnel {Tunnel} from {RemoteAddress} refused with 403: its agent secret is missing or wrong; the tunnel's connected agent, if any, keeps serving")]
    public static partial void AgentSecretRejected(ILogger logger, string tunnel, IPAddress? remoteAddress);

    [LoggerMessage(1017, LogLevel.Warning, "Agent registration from {RemoteAddress} refused with 403: {Problem}")]
    public static partial void AgentCertificateRejected(ILogger logger, IPAddress? remoteAddress, string problem);

    [LoggerMessage(1018, LogLevel.Warning, "Agent registration for tunnel {Tunnel} from {RemoteAddress} refused with 403: certificate {Identity} is not an identity this tunnel admits; its connected agent, if any, keeps serving")]
    public static partial void AgentIdentityRejected(ILogger logger, string tunnel, string identity, IPAddress? remoteAddress);

    [LoggerMessage(1020, LogLevel.Information, "Gateway stopping: closing {Count} agent sessions with a grace period of {GracePeriod}")]
    public static partial void ShuttingDown(ILogger logger, int count, TimeSpan gracePeriod);

    [LoggerMessage(1021, LogLevel.Warning, "Agent registration for tunnel {Tunnel} from {RemoteAddress} refused with 409: another agent serves it (certificate {Identity}); configure a pool to let several agents serve it")]
    public static partial void TunnelTakeoverRefused(ILogger logger, string tunnel, string identity, IPAddress? remoteAddress);

    [LoggerMessage(1022, LogLevel.Debug, "Idle agents' TLS connections release their record buffers (SSL_MODE_RELEASE_BUFFERS)")]
    public static partial void TlsBuffersReleased(ILogger logger);

    [LoggerMessage(1023, LogLevel.Information, "Idle agents' TLS connections keep their record buffers (about 33 KiB each): {Reason}")]
    public static partial void TlsBuffersKept(ILogger logger, string reason);

    [LoggerMessage(1024, LogLevel.Debug, "Agents' TLS is not OpenSSL on this platform: no record buffers to release")]
    public static partial void TlsBuffersNotOpenSsl(ILogger logger);

    [LoggerMessage(1025, LogLevel.Information, "Agents connect through the HTTP endpoint, not directly: {Reason}")]
    public static partial void DirectAgentConnectionsUnavailable(ILogger logger, string reason);

    [LoggerMessage(1027, LogLevel.Warning, "WStunnel settings that apply at start-up changed while the gateway runs (limits, session timeouts, addressing); they apply at the next start. Tunnels, RateLimits, Status, Queue, RequestTimeout, AllowUnlistedTokens, TokenRetention and the routes in ReverseProxy apply at once")]
    public static partial void ConfigurationChanged(ILogger logger);

    [LoggerMessage(1028, LogLevel.Error, "The WStunnel configuration section changed while the gateway runs, and the gateway would not start with it: {Failures} Nothing of the change applies; WStunnel goes on as it was")]
    public static partial void ConfigurationChangedInvalid(ILogger logger, string failures);

    [LoggerMessage(1029, LogLevel.Information, "Tunnel {Tunnel} added by the configuration; its agents may connect")]
    public static partial void TunnelAdded(ILogger logger, string tunnel);

    [LoggerMessage(1030, LogLevel.Information, "Tunnel {Tunnel} changed in the configuration; its agents are asked to come back, to be admitted by the new rules, and waiting requests wait for them")]
    public static partial void TunnelChanged(ILogger logger, string tunnel);

    [LoggerMessage(1031, LogLevel.Information, "Tunnel {Tunnel} removed from the configuration; its agents are asked to leave once their requests in flight finish, and requests waiting for an agent are answered 502")]
    public static partial void TunnelRemoved(ILogger logger, string tunnel);

    [LoggerMessage(1033, LogLevel.Information, "{Settings} changed in the configuration and apply from now on")]
    public static partial void LiveSettingsChanged(ILogger logger, string settings);

    [LoggerMessage(1032, LogLevel.Information, "Request for tunnel {Tunnel} answered 502: the configuration removed the tunnel while the request waited for its agent")]
    public static partial void TunnelRemovedWhileWaiting(ILogger logger, string tunnel);

    [LoggerMessage(1034, LogLevel.Warning, "ASP.NET Core's request logging ({Category}) is at Information: it writes every request's Host and path before WStunnel sees the request, tokens in the Host or under {PathPrefix}/ included. Set {Category} to Warning, or have clients send tokens in the {TokenHeader} header")]
    public static partial void RequestLoggingRecordsTokens(ILogger logger, string category, string pathPrefix, string tokenHeader);

    [LoggerMessage(1026, LogLevel.Debug, "Connection from {RemoteAddress} ended before an agent upgrade was answered: {Reason}")]
    public static partial void DirectConnectionEnded(ILogger logger, IPAddress? remoteAddress, string reason);
}
