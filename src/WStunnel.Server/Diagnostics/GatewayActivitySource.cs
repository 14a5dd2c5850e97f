using System.Diagnostics;

namespace WStunnel.Server.Diagnostics;

/// <summary>
/// The gateway's <c>WStunnel</c> activity source: one client activity per request sent into a tunnel,
/// whose trace context crosses the tunnel, so the backend's span is its child.
/// </summary>
internal static class GatewayActivitySource
{
    public static readonly ActivitySource Instance = new(GatewayMetrics.MeterName);
}
