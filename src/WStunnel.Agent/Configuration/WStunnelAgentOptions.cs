namespace WStunnel.Agent;

/// <summary>Settings of a WStunnel agent, bound from the <c>WStunnelAgent</c> configuration section.</summary>
public sealed class WStunnelAgentOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "WStunnelAgent";

    /// <summary>The gateway, e.g. <c>wss://gateway.example.com</c>; the path defaults to <c>/_tunnel</c>.</summary>
    public Uri? Server { get; set; }

    /// <summary>The token this agent serves (prefer <see cref="TokenFile"/>: process arguments are visible to other users).</summary>
    public string? Token { get; set; }

    /// <summary>
    /// A file whose content (trimmed) is the token; read again before each connection to the gateway,
    /// so a rotated token applies without a restart.
    /// </summary>
    public string? TokenFile { get; set; }

    /// <summary>
    /// The tunnel's agent secret, where the gateway requires one besides the token (prefer
    /// <see cref="SecretFile"/>). Sent only when registering, never logged.
    /// </summary>
    public string? Secret { get; set; }

    /// <summary>
    /// A file whose content (trimmed) is the agent secret; read again before each connection to the
    /// gateway, so a rotated secret applies without a restart.
    /// </summary>
    public string? SecretFile { get; set; }

    /// <summary>
    /// The client certificate presented to gateways that require one: a PEM certificate (with its key
    /// in <see cref="ClientKeyFile"/>) or a PFX file without a password.
    /// </summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>The PEM private key of <see cref="ClientCertificateFile"/>.</summary>
    public string? ClientKeyFile { get; set; }

    /// <summary>
    /// The local server requests are replayed against: an origin, or a Unix domain socket spoken to in
    /// cleartext HTTP (<c>unix:/run/app.sock</c>). Default: <c>http://localhost:80</c>.
    /// </summary>
    public Uri Target { get; set; } = new("http://localhost:80");

    /// <summary>Accept any certificate from an <c>https://</c> target (a local server with a self-signed one). Default: false.</summary>
    public bool InsecureTarget { get; set; }

    /// <summary>
    /// A PEM file of CA certificates trusted for <c>https://</c> targets' certificates, in addition to
    /// the system store (an internal CA); the target's host name must still match. Default: none.
    /// </summary>
    public string? TargetCaCertificateFile { get; set; }

    /// <summary>
    /// A JSON file the agent keeps up to date with its state (connected, transport, since when, last
    /// error, reconnects), for monitoring scripts. Default: none.
    /// </summary>
    public string? StatusFile { get; set; }

    /// <summary>
    /// Further origins (<c>scheme://host[:port]</c>) the gateway may select per request with its
    /// target header (<c>X-Host</c> by default). Only these exact origins are served — same scheme,
    /// host and port; a request for any other is answered 403 and logged. Empty (default): every
    /// request goes to <see cref="Target"/>.
    /// </summary>
    public IList<Uri> AllowedTargets { get; } = [];

    /// <summary>
    /// Speak HTTP/2 to the target: prior-knowledge h2c for <c>http://</c> targets, ALPN for <c>https://</c>.
    /// Needed for gRPC and anything else that relies on response trailers. Default: false (HTTP/1.1).
    /// </summary>
    public bool TargetHttp2 { get; set; }

    /// <summary>A PEM file of CA certificates trusted for the gateway's certificate, in addition to the system store.</summary>
    public string? CaCertificateFile { get; set; }

    /// <summary>Accept any gateway certificate. Dangerous: anyone on the path can read the tunnel.</summary>
    public bool Insecure { get; set; }

    /// <summary>An HTTP CONNECT proxy, <c>http://[user:pass@]host:port</c>. When unset, <c>HTTPS_PROXY</c>/<c>NO_PROXY</c> apply.</summary>
    public Uri? Proxy { get; set; }

    /// <summary>How to reach the gateway. Default: <see cref="AgentTransport.Auto"/>.</summary>
    public AgentTransport Transport { get; set; } = AgentTransport.Auto;

    /// <summary>With <see cref="AgentTransport.Auto"/>: how long a WebSocket may take to start the tunnel before long-poll is tried. Default: 5 s.</summary>
    public TimeSpan WebSocketHandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>With <see cref="AgentTransport.Auto"/> on long-poll: how often to try moving back to a WebSocket. Default: 5 minutes.</summary>
    public TimeSpan WebSocketRetryInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>First reconnect delay's upper bound; it doubles per failed attempt. Default: 1 s.</summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest reconnect delay. Default: 60 s.</summary>
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>A connection that lasted this long resets the backoff. Default: 30 s.</summary>
    public TimeSpan StableConnectionTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time to reach the gateway and complete the tunnel handshake. Default: 15 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Silence on the tunnel after which the agent pings. Default: 15 s.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Silence after which the gateway is considered gone and the agent reconnects. Default: 45 s.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>How long the target may take to send response headers before the client gets 504. Default: 100 s.</summary>
    public TimeSpan TargetResponseTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>
    /// How long the agent keeps a session whose connection was lost, to continue it on a new one:
    /// requests in flight finish as if nothing happened. Zero turns resuming off. Default: 30 s.
    /// </summary>
    public TimeSpan ResumeWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Response bytes sent but not yet acknowledged that the agent keeps, to replay them when the
    /// session resumes; beyond it the session cannot resume. Default: 64 MiB.
    /// </summary>
    public long MaxReplayBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>How long requests in flight may finish when the agent stops. Default: 10 s.</summary>
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Concurrent requests this agent accepts. Default: 512.</summary>
    public int MaxConcurrentRequests { get; set; } = 512;

    /// <summary>Largest request head the agent accepts; larger requests get 431 at the gateway. Default: 64 KiB.</summary>
    public int MaxHeaderBytes { get; set; } = 64 * 1024;

    /// <summary>Request body bytes the gateway may send ahead per request. Default: 1 MiB.</summary>
    public int StreamWindow { get; set; } = 1024 * 1024;

    /// <summary>Request body bytes the gateway may send ahead across all requests. Default: 16 MiB.</summary>
    public int SessionWindow { get; set; } = 16 * 1024 * 1024;
}
