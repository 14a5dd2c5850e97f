using System.Net;
using System.Runtime.CompilerServices;
using WStunnel.Protocol.Transports;

namespace WStunnel.Agent.Connection;

/// <summary>
/// Sits under the agent's WebSocket connections to keep the reason a gateway gave for refusing an
/// upgrade: <see cref="System.Net.WebSockets.ClientWebSocket"/> reports only the status. The reason
/// goes to the box the connecting flow asked for (async-local, so no other attempt sees it).
/// </summary>
internal sealed class UpgradeRefusalHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private static readonly AsyncLocal<StrongBox<string?>?> Listening = new();

    /// <summary>A box that receives the reason of the calling flow's refused upgrade, if the gateway gives one.</summary>
    public static StrongBox<string?> Listen() => Listening.Value = new StrongBox<string?>();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.SwitchingProtocols && Listening.Value is { } reason)
        {
            reason.Value = await RefusalText.ReadAsync(response.Content, cancellationToken).ConfigureAwait(false);
        }

        return response;
    }
}
