using System.Net;
using WStunnel.Protocol.Session;

namespace WStunnel.Agent.Dispatch;

/// <summary>A request body streamed from the tunnel into the request to the target, chunk by chunk.</summary>
internal sealed class TunnelRequestContent(TunnelStream stream) : HttpContent
{
    protected override Task SerializeToStreamAsync(Stream target, TransportContext? context) =>
        SerializeToStreamAsync(target, context, CancellationToken.None);

    protected override Task SerializeToStreamAsync(Stream target, TransportContext? context, CancellationToken cancellationToken)
    {
        // The handler asks for the body once the target said 100 Continue (or did not answer in time):
        // only now does the gateway let the client send it.
        stream.SendContinue();
        return stream.CopyToAsync(target, cancellationToken);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}
