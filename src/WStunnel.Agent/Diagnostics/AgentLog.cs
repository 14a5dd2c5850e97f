using Microsoft.Extensions.Logging;

namespace WStunnel.Agent.Diagnostics;

/// <summary>The agent's log events. The token appears only as its fingerprint.</summary>
internal static partial class AgentLog
{
    [LoggerMessage(2001, LogLevel.Information, "Connecting to {Server} for token {Fingerprint} (attempt {Attempt})")]
    public static partial void Connecting(ILogger logger, Uri server, string fingerprint, int attempt);

    [LoggerMessage(2002, LogLevel.Information, "Tunnel open to {Server} over {Transport} (session {SessionId}); serving {Target}")]
    public static partial void Connected(ILogger logger, Uri server, string transport, Guid sessionId, Uri target);

    [LoggerMessage(2003, LogLevel.Warning, "Tunnel to {Server} closed: {Reason}")]
    public static partial void Disconnected(ILogger logger, Uri server, string reason);

    [LoggerMessage(2004, LogLevel.Warning, "Could not open the tunnel to {Server}: {Reason}")]
    public static partial void ConnectFailed(ILogger logger, Uri server, string reason);

    [LoggerMessage(2005, LogLevel.Information, "Reconnecting in {DelaySeconds:0.##} s")]
    public static partial void Reconnecting(ILogger logger, double delaySeconds);

    [LoggerMessage(2032, LogLevel.Information, "Reconnecting in {DelaySeconds:0.##} s: the gateway asked the agent to wait {RetryAfterSeconds:0.##} s (Retry-After)")]
    public static partial void ReconnectingAsAsked(ILogger logger, double delaySeconds, double retryAfterSeconds);

    [LoggerMessage(2006, LogLevel.Warning, "Gateway certificate verification is DISABLED (--insecure): anyone between this agent and {Server} can read and change the tunnel's traffic")]
    public static partial void InsecureMode(ILogger logger, Uri server);

    [LoggerMessage(2007, LogLevel.Information, "Using HTTP CONNECT proxy {Proxy}")]
    public static partial void UsingProxy(ILogger logger, string proxy);

    [LoggerMessage(2008, LogLevel.Warning, "WebSocket to the gateway failed ({Reason}); falling back to HTTPS long-poll")]
    public static partial void FallingBackToLongPoll(ILogger logger, string reason);

    [LoggerMessage(2009, LogLevel.Information, "Moved the tunnel to {Server} from long-poll back to a WebSocket")]
    public static partial void UpgradedToWebSocket(ILogger logger, Uri server);

    [LoggerMessage(2012, LogLevel.Debug, "WebSocket still unavailable, staying on long-poll: {Reason}")]
    public static partial void StillOnLongPoll(ILogger logger, string reason);

    [LoggerMessage(2013, LogLevel.Information, "Tunnel to {Server} resumed over {Transport} (session {SessionId}): requests in flight carry on")]
    public static partial void Resumed(ILogger logger, Uri server, string transport, Guid sessionId);

    [LoggerMessage(2014, LogLevel.Warning, "Connection to {Server} lost ({Reason}); reconnecting to resume the session within {ResumeWindow}")]
    public static partial void ConnectionLost(ILogger logger, Uri server, string reason, TimeSpan resumeWindow);

    [LoggerMessage(2010, LogLevel.Warning, "Target {Target} failed for {Method} request: {Reason}")]
    public static partial void TargetFailed(ILogger logger, Uri target, string method, string reason);

    [LoggerMessage(2011, LogLevel.Warning, "Request refused: {Reason}")]
    public static partial void RequestRefused(ILogger logger, string reason);

    [LoggerMessage(2020, LogLevel.Information, "Agent stopping: letting {Count} requests finish within {GracePeriod}")]
    public static partial void Stopping(ILogger logger, int count, TimeSpan gracePeriod);

    [LoggerMessage(2022, LogLevel.Error, "The certificate of {Server} was rejected, so the agent sent it nothing, no credentials either: {Reason}")]
    public static partial void GatewayCertificateRejected(ILogger logger, Uri server, string reason);

    [LoggerMessage(2023, LogLevel.Information, "Client certificate reloaded: subject {Subject}, valid until {NotAfter:u}, SHA-256 {Fingerprint}; presented from the next connection on")]
    public static partial void ClientCertificateReloaded(ILogger logger, string subject, DateTime notAfter, string fingerprint);

    [LoggerMessage(2024, LogLevel.Warning, "Client certificate not reloaded: {Reason}. Still presenting subject {Subject}, valid until {NotAfter:u}")]
    public static partial void ClientCertificateNotReloaded(ILogger logger, string reason, string subject, DateTime notAfter);

    [LoggerMessage(2025, LogLevel.Error, "The certificate of target {Target} was rejected, so no request was sent to it: {Reason}")]
    public static partial void TargetCertificateRejected(ILogger logger, string target, string reason);

    [LoggerMessage(2026, LogLevel.Information, "Token file changed: the agent now serves token {Fingerprint} (was {Previous}), from the next connection on")]
    public static partial void TokenReloaded(ILogger logger, string previous, string fingerprint);

    [LoggerMessage(2027, LogLevel.Information, "Agent secret changed: presented for token {Fingerprint} from the next connection on")]
    public static partial void SecretReloaded(ILogger logger, string fingerprint);

    [LoggerMessage(2028, LogLevel.Warning, "Token or secret not reloaded: {Reason}. Still announcing token {Fingerprint} with the secret it had")]
    public static partial void CredentialsNotReloaded(ILogger logger, string reason, string fingerprint);

    [LoggerMessage(2029, LogLevel.Information, "Closing the tunnel to announce token {Fingerprint} and its secret as they now read, letting requests in flight finish within {GracePeriod}")]
    public static partial void ReconnectingForCredentials(ILogger logger, string fingerprint, TimeSpan gracePeriod);

    [LoggerMessage(2030, LogLevel.Information, "Nothing to announce anew: token {Fingerprint} and its secret are as announced (only their files are read again), or the files hold nothing usable; the tunnel stays as it is")]
    public static partial void CredentialsUnchanged(ILogger logger, string fingerprint);

    [LoggerMessage(2031, LogLevel.Information, "Tunnel to {Server} closed: {Reason}; connecting again")]
    public static partial void ClosedToReconnect(ILogger logger, Uri server, string reason);

    [LoggerMessage(2021, LogLevel.Warning, "Could not write the status file: {Reason}")]
    public static partial void StatusFileFailed(ILogger logger, string reason);
}
