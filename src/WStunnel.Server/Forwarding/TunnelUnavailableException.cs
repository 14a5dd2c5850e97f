namespace WStunnel.Server.Forwarding;

/// <summary>
/// No agent serves the tunnel right now. An <see cref="HttpRequestException"/>, so YARP answers 502
/// as it does for an unreachable destination.
/// </summary>
internal sealed class TunnelUnavailableException(string tunnel)
    : HttpRequestException($"No agent is connected to tunnel '{tunnel}'.", null, System.Net.HttpStatusCode.BadGateway)
{
    public string Tunnel { get; } = tunnel;
}
