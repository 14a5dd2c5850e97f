namespace WStunnel.Server;

/// <summary>
/// Settings of the WStunnel gateway extension, bound from the <c>WStunnel</c> configuration section.
/// </summary>
public sealed class WStunnelOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "WStunnel";

    /// <summary>
    /// DNS suffixes under which the first label of the Host header is a token, e.g. <c>tunnel.example.com</c>
    /// makes <c>TOKEN.tunnel.example.com</c> address the agent that registered TOKEN.
    /// </summary>
    public IList<string> HostSuffixes { get; } = [];

    /// <summary>Whether a Host header that is exactly a registered token addresses that agent. Default: true.</summary>
    public bool MatchHostAsToken { get; set; } = true;

    /// <summary>The request header that carries a token. Default: <c>X-Token</c>.</summary>
    public string TokenHeader { get; set; } = "X-Token";

    /// <summary>
    /// The request header that selects one of an agent's additional targets (the original WStunnel's
    /// <c>X-Host</c>): its value, an origin such as <c>http://printer.lan:8080</c>, crosses the tunnel
    /// apart from the headers and is served only if the agent lists that exact origin in its
    /// allowed targets; the header itself never reaches a backend. Set it in a route's transforms to
    /// choose the target for your clients. <c>null</c>: every request goes to the agent's default target.
    /// </summary>
    public string? TargetHeader { get; set; } = "X-Host";

    /// <summary>The path prefix of the <c>/_token/TOKEN/rest</c> form. Default: <c>/_token</c>.</summary>
    public string TokenPathPrefix { get; set; } = "/_token";

    /// <summary>Shortest token an agent may register. Default: 16.</summary>
    public int MinimumTokenLength { get; set; } = 16;

    /// <summary>
    /// Whether agents may register tokens that are not listed under <see cref="Tunnels"/> (the original
    /// WStunnel's behaviour). Default: true.
    /// </summary>
    public bool AllowUnlistedTokens { get; set; } = true;

    /// <summary>Named tunnels, addressable from ordinary YARP clusters as <c>wstunnel://NAME</c>.</summary>
    public IDictionary<string, WStunnelTunnelOptions> Tunnels { get; } = new Dictionary<string, WStunnelTunnelOptions>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// How long a request through the tunnel may make no progress before YARP answers 504 (the token
    /// routes' <c>ActivityTimeout</c>). Default: 5 minutes.
    /// </summary>
    public TimeSpan RequestActivityTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long one request through a tunnel may take in all, from arrival (queueing included) to the
    /// last byte of the response: 504 if the response has not started by then, otherwise the response
    /// is cut off. Null for no limit, so long downloads and event streams run as long as they make
    /// progress (<see cref="RequestActivityTimeout"/> still ends stuck ones). Default: null.
    /// </summary>
    public TimeSpan? RequestTimeout { get; set; }

    /// <summary>Largest request body forwarded through a tunnel; null for no limit. Default: 1 GiB.</summary>
    public long? MaxRequestBodySize { get; set; } = 1L << 30;

    /// <summary>How long a connecting agent has to complete the tunnel handshake. Default: 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Silence on a tunnel after which the gateway pings the agent. Default: 15 s.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Silence after which an agent is considered gone. Default: 45 s.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>
    /// Whether an agent's WebSocket over HTTP/1.1 and Kestrel's TLS writes straight into the
    /// connection's TLS stream, in full 16 KiB records, rather than through Kestrel's output, which
    /// hands TLS 4 KiB at a time. Turn it off only if a connection middleware placed after
    /// <c>UseHttps</c> must see or change what the gateway sends to agents. Default: true.
    /// </summary>
    public bool TlsWriteThrough { get; set; } = true;

    /// <summary>
    /// Whether agents' TLS connections free OpenSSL's read and write buffers whenever they are empty
    /// (<c>SSL_MODE_RELEASE_BUFFERS</c>): OpenSSL then holds 33 KiB less per idle agent — 13 KiB of
    /// resident memory measured for agents that carried no traffic, up to all 33 for agents whose
    /// records filled the buffers.
    /// Linux only (elsewhere .NET's TLS is not OpenSSL); it reaches the connection's handle inside
    /// <c>SslStream</c>, and does nothing, logging why once, where that is not as expected.
    /// Default: true.
    /// </summary>
    public bool ReleaseIdleTlsBuffers { get; set; } = true;

    /// <summary>
    /// Whether agents' WebSocket connections on endpoints with <c>UseWStunnelAgents()</c> leave
    /// Kestrel's HTTP/1.1 processing once admitted: an idle agent then costs the gateway ≈ 9 KiB less
    /// (27.6 instead of 36.9 KiB at 10,000 agents).
    /// They are admitted by the same rules; they skip the application's HTTP middleware. Off, every
    /// agent connects through the HTTP endpoint. Default: true.
    /// </summary>
    public bool DirectAgentConnections { get; set; } = true;

    /// <summary>
    /// How long the gateway holds a long-poll that has nothing to deliver; keep it below the idle
    /// timeouts of proxies between agents and the gateway. Default: 25 s.
    /// </summary>
    public TimeSpan LongPollTimeout { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>
    /// How long an agent's session outlives its lost connection: requests in flight wait, and the
    /// agent continues the session on a new connection without any of them noticing. Zero turns
    /// resuming off. Default: 30 s.
    /// </summary>
    public TimeSpan ResumeWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long in-flight requests may finish when the gateway stops. Default: 10 s.</summary>
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a token that was registered is remembered after its agent left, so requests for it get
    /// 502 (agent offline) rather than 404 (unknown). Default: 1 hour.
    /// </summary>
    public TimeSpan TokenRetention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Queueing of requests while a tunnel's agent reconnects.</summary>
    public WStunnelQueueOptions Queue { get; } = new();

    /// <summary>Client certificates agents must present, when required.</summary>
    public WStunnelAgentCertificateOptions AgentCertificates { get; } = new();

    /// <summary>Per client address limits on registrations and unknown-token requests.</summary>
    public WStunnelRateLimitOptions RateLimits { get; } = new();

    /// <summary>Limits of the tunnel protocol on the gateway's side.</summary>
    public WStunnelLimitsOptions Limits { get; } = new();

    /// <summary>Who may read the status endpoints.</summary>
    public WStunnelStatusOptions Status { get; } = new();
}
