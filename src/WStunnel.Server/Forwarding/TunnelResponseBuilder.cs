using System.Net;
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
        HttpRequestMessage request, ResponseHead head, TunnelStream stream, TunnelEntry tunnel, GatewayMetrics metrics, IDisposable? lifetime = null)
    {
        var response = new HttpResponseMessage((HttpStatusCode)head.StatusCode)
        {
            RequestMessage = request,
            Version = HttpVersion.Version11,
        };
        var content = new TunnelResponseContent(stream, response, tunnel, metrics, lifetime);
        response.Content = content;

        TunnelHeaders.CopyTo(head.Headers, response.Headers, content, static c => c.Headers);
        return response;
    }
}
