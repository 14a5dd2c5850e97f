using System.Net;
using WStunnel.Protocol.Session;

namespace WStunnel.Agent.Dispatch;

/// <summary>A request body streamed from the tunnel into the request to the target, chunk by chunk.</summary>
internal sealed class TunnelRequestContent(TunnelStream stream) : HttpContent
{
    public bool Finished { get; private set; }

    protected override Task SerializeToStreamAsync(Stream target, TransportContext? context) =>
        SerializeToStreamAsync(target, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream target, TransportContext? context, CancellationToken cancellationToken)
    {
        await stream.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
        Finished = true;
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}
