using System.Net;
using Microsoft.AspNetCore.Http;
using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Http;
using WStunnel.Protocol.Session;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Forwarding;

/// <summary>Turns a response head from the tunnel into the message YARP copies to the client.</summary>
internal static class TunnelResponseBuilder
{
    // lifetime (e.g. the request's deadline) is disposed with the response body.
    public static HttpResponseMessage Build(
        HttpRequestMessage request, ResponseHead head, TunnelStream stream, TunnelEntry tunnel, GatewayMetrics metrics, IDisposable? lifetime = null) =>
        Create(request, head, stream, tunnel, metrics, lifetime, upgraded: false);

    /// <summary>
    /// A 101 answer to an upgrade: YARP restores <c>Connection</c> and <c>Upgrade</c> from it, then
    /// copies the client's bytes into its content's stream and the agent's out of it.
    /// </summary>
    public static HttpResponseMessage BuildUpgraded(
        HttpRequestMessage request, ResponseHead head, string requested, TunnelStream stream, TunnelEntry tunnel, GatewayMetrics metrics)
    {
        var response = Create(request, head, stream, tunnel, metrics, lifetime: null, upgraded: true);
        HttpUpgrade.Apply(response.Headers, HttpUpgrade.Of(head.Headers) ?? requested);
        return response;
    }

    private static HttpResponseMessage Create(
        HttpRequestMessage request, ResponseHead head, TunnelStream stream, TunnelEntry tunnel, GatewayMetrics metrics, IDisposable? lifetime, bool upgraded)
    {
        var response = new HttpResponseMessage((HttpStatusCode)head.StatusCode)
        {
            RequestMessage = request,
            Version = HttpVersion.Version11,
        };
        var content = new TunnelResponseContent(stream, response, tunnel, metrics, lifetime, upgraded);
        response.Content = content;

        TunnelHeaders.CopyTo(head.Headers, response.Headers, content, static c => c.Headers);
        if (head.StatusCode is StatusCodes.Status204NoContent or StatusCodes.Status205ResetContent)
        {
            // Neither has content (RFC 9110 §8.6, §15.3.6); Kestrel fails a response whose
            // Content-Length announces bytes it may not send, so a stray one is dropped.
            content.Headers.Remove("Content-Length");
        }

        return response;
    }
}
