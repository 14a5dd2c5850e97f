using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using WStunnel.Agent.Configuration;
using WStunnel.Agent.Diagnostics;
using WStunnel.Agent.Security;
using WStunnel.Protocol.Transports;
using WStunnel.Protocol.Transports.LongPoll;

namespace WStunnel.Agent.Connection;

/// <summary>
/// Dials the gateway: a WebSocket over TLS, through an HTTP CONNECT proxy when one is configured
/// (explicitly or by <c>HTTPS_PROXY</c>), with the gateway's certificate verified.
/// </summary>
internal sealed class GatewayConnector : IDisposable
{
    private readonly WStunnelAgentOptions _options;
    private readonly HttpMessageInvoker _invoker;
    private readonly ServerCertificateValidator? _validator;
    private readonly ClientCertificateSource? _clientCertificate;
    private readonly ILogger _logger;

    public GatewayConnector(WStunnelAgentOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        EndpointUri = TunnelEndpoint(options.Server!);
        LongPollUri = new UriBuilder(EndpointUri) { Scheme = EndpointUri.Scheme == "ws" ? "http" : "https" }.Uri;
        if (options.Insecure)
        {
            AgentLog.InsecureMode(logger, EndpointUri);
        }
        else
        {
            _validator = ServerCertificateValidator.FromFile(options.CaCertificateFile);
        }

        if (options.Proxy is { } proxy)
        {
            AgentLog.UsingProxy(logger, $"{proxy.Scheme}://{proxy.Authority}");
        }

        _clientCertificate = ClientCertificateSource.Create(options, logger, TimeProvider.System);
        _invoker = new HttpMessageInvoker(new UpgradeRefusalHandler(CreateHandler()));
    }

    /// <summary>A handler with the agent's proxy and certificate rules.</summary>
    private SocketsHttpHandler CreateHandler()
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = _options.ConnectTimeout,
            UseCookies = false,
            AllowAutoRedirect = false,
        };

#pragma warning disable CA5359 // Accepting any certificate only with --insecure, which is logged loudly.
        handler.SslOptions.RemoteCertificateValidationCallback = _validator is { } validator
            ? (_, certificate, chain, errors) => Verify(validator, certificate, chain, errors)
            : static (_, _, _, _) => true;
#pragma warning restore CA5359

        if (_clientCertificate is { } clientCertificate)
        {
            // Always offer it, whatever issuers the gateway lists (they need not name a private CA), and
            // as its files hold it now: a renewed certificate is presented from the next handshake on.
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate.ForHandshake();
        }

        if (_options.Proxy is { } proxy)
        {
            handler.Proxy = CreateProxy(proxy);
            handler.UseProxy = true;
        }

        return handler;
    }

    private bool Verify(ServerCertificateValidator validator, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (validator.Validate(certificate, chain, errors, out var rejection))
        {
            return true;
        }

        AgentLog.GatewayCertificateRejected(_logger, EndpointUri, rejection);
        return false;
    }

    /// <summary>The registration URL: the configured server, with <c>/_tunnel</c> when no path was given.</summary>
    public Uri EndpointUri { get; }

    /// <summary>The same endpoint as long-poll reaches it, over HTTPS (HTTP for a <c>ws://</c> server).</summary>
    public Uri LongPollUri { get; }

    public async Task<WebSocket> ConnectAsync(string token, string? secret, Guid? resuming, TimeProvider time, CancellationToken cancellationToken)
    {
        var webSocket = new ClientWebSocket();
        webSocket.Options.AddSubProtocol(WebSocketTransport.SubProtocol);
        webSocket.Options.SetRequestHeader(AgentHeaders.Token, token);
        foreach (var (name, value) in RegistrationHeaders(secret, resuming))
        {
            webSocket.Options.SetRequestHeader(name, value);
        }

        webSocket.Options.KeepAliveInterval = TimeSpan.Zero; // the session's ping and pong watch the link
        webSocket.Options.CollectHttpResponseDetails = true;
        webSocket.Options.HttpVersion = HttpVersion.Version11;
        webSocket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        var reason = UpgradeRefusalHandler.Listen();
        try
        {
            await webSocket.ConnectAsync(EndpointUri, _invoker, cancellationToken).ConfigureAwait(false);
        }
        catch (WebSocketException ex) when (webSocket.HttpStatusCode != 0 && webSocket.HttpStatusCode != HttpStatusCode.SwitchingProtocols)
        {
            var status = webSocket.HttpStatusCode;
            var retryAfter = RetryAfterOf(webSocket.HttpResponseHeaders, time);
            var location = Header(webSocket.HttpResponseHeaders, "Location") is { } value && Uri.TryCreate(EndpointUri, value, out var target) ? target : null;
            webSocket.Dispose();
            throw new GatewayRefusedException(status, ex, retryAfter: retryAfter, reason: reason.Value, location: location);
        }
        catch
        {
            webSocket.Dispose();
            throw;
        }

        if (webSocket.SubProtocol != WebSocketTransport.SubProtocol)
        {
            webSocket.Abort();
            webSocket.Dispose();
            throw new GatewayRefusedException(HttpStatusCode.SwitchingProtocols, null,
                $"the server at {EndpointUri} accepted the WebSocket but not the '{WebSocketTransport.SubProtocol}' protocol: is it a WStunnel gateway?");
        }

        return webSocket;
    }

    private static TimeSpan? RetryAfterOf(IReadOnlyDictionary<string, IEnumerable<string>>? headers, TimeProvider time) =>
        Header(headers, "Retry-After") is { } value && RetryConditionHeaderValue.TryParse(value, out var parsed)
            ? GatewayRefusedException.RetryAfterOf(parsed, time.GetUtcNow())
            : null;

    private static string? Header(IReadOnlyDictionary<string, IEnumerable<string>>? headers, string name) =>
        headers?.FirstOrDefault(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault();

    /// <summary>Opens an HTTPS long-poll connection through the same handler: same proxy, same certificate checks.</summary>
    public Task<LongPollClientTransport> ConnectLongPollAsync(string token, string? secret, Guid? resuming, TimeProvider time, CancellationToken cancellationToken)
    {
        // Its own connection pool: connections of an earlier, broken long-poll connection (perhaps
        // silently dead) must not carry the new one.
        return LongPollClientTransport.ConnectAsync(new HttpMessageInvoker(CreateHandler()), LongPollUri, AgentHeaders.Token, token, _options.KeepAliveTimeout, time, cancellationToken,
            ownsClient: true, connectHeaders: RegistrationHeaders(secret, resuming));
    }

    private static List<KeyValuePair<string, string>> RegistrationHeaders(string? secret, Guid? resuming)
    {
        var headers = new List<KeyValuePair<string, string>>(2);
        if (secret is not null)
        {
            headers.Add(new(AgentHeaders.Secret, secret));
        }

        if (resuming is { } session)
        {
            headers.Add(new(AgentHeaders.Resume, session.ToString("N")));
        }

        return headers;
    }

    public void Dispose()
    {
        _invoker.Dispose();
        _clientCertificate?.Dispose();
    }

    internal static Uri TunnelEndpoint(Uri server)
    {
        var builder = new UriBuilder(server)
        {
            Scheme = server.Scheme switch { "https" => "wss", "http" => "ws", _ => server.Scheme },
        };
        if (builder.Path is "" or "/")
        {
            builder.Path = "/_tunnel";
        }

        return builder.Uri;
    }

    internal static WebProxy CreateProxy(Uri proxy)
    {
        var webProxy = new WebProxy(new Uri($"{proxy.Scheme}://{proxy.Authority}"));
        if (!string.IsNullOrEmpty(proxy.UserInfo))
        {
            var separator = proxy.UserInfo.IndexOf(':', StringComparison.Ordinal);
            var user = separator < 0 ? proxy.UserInfo : proxy.UserInfo[..separator];
            var password = separator < 0 ? "" : proxy.UserInfo[(separator + 1)..];
            webProxy.Credentials = new NetworkCredential(Uri.UnescapeDataString(user), Uri.UnescapeDataString(password));
        }

        return webProxy;
    }
}
