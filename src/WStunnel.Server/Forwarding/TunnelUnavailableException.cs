namespace WStunnel.Server.Forwarding;

/// <summary>
/// No agent serves the tunnel right now. An <see cref="HttpRequestException"/>, so YARP answers 502
/// as it does for an unreachable destination.
/// </summary>
internal sealed class TunnelUnavailableException(string tunnel, Exception? inner = null)
    : HttpRequestException($"No agent is connected to tunnel '{tunnel}'.", inner, System.Net.HttpStatusCode.BadGateway)
{
    public string Tunnel { get; } = tunnel;
}
