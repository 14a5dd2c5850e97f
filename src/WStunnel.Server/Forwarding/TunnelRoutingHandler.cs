using WStunnel.Server.Configuration;

namespace WStunnel.Server.Forwarding;

/// <summary>
/// Sends <c>wstunnel://</c> requests through the tunnel and every other request through the client
/// YARP (or the user's <c>ConfigureHttpClient</c>) built for the cluster, so one cluster may mix both.
/// </summary>
internal sealed class TunnelRoutingHandler(HttpMessageInvoker inner, TunnelForwarder tunnel) : HttpMessageHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        string.Equals(request.RequestUri?.Scheme, TunnelNames.Scheme, StringComparison.OrdinalIgnoreCase)
            ? tunnel.SendAsync(request, cancellationToken)
            : inner.SendAsync(request, cancellationToken);

    protected override void Dispose(bool disposing)
    {
        // YARP never disposes replaced clients; the inner client stays owned by the factory that made it.
        base.Dispose(disposing);
    }
}
