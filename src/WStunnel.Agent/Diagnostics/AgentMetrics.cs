using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace WStunnel.Agent.Diagnostics;

/// <summary>The agent's instruments on the <c>WStunnel</c> meter: tunnel state, reconnects, failed attempts, requests to the target.</summary>
internal sealed class AgentMetrics
{
    public const string MeterName = "WStunnel";

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _reconnects;
    private readonly Counter<long> _connectFailures;
    private int _connected;

    public AgentMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("wstunnel.agent.requests", "{request}", "Requests from the gateway, by outcome.");
        _duration = meter.CreateHistogram<double>("wstunnel.agent.request.duration", "s", "Time from a request's arrival to the target's response head.");
        _reconnects = meter.CreateCounter<long>("wstunnel.agent.reconnects", "{connection}", "Tunnels opened after the first (new sessions, resumes and upgrades).");
        _connectFailures = meter.CreateCounter<long>("wstunnel.agent.connect.failures", "{attempt}", "Attempts to open the tunnel that failed, by reason.");
        meter.CreateObservableUpDownCounter("wstunnel.agent.connected", () => Volatile.Read(ref _connected), "{tunnel}", "1 while the agent's tunnel is open.");
    }

    public void RequestCompleted(string outcome, long startTimestamp)
    {
        var tag = new KeyValuePair<string, object?>("wstunnel.outcome", outcome);
        _requests.Add(1, tag);
        _duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tag);
    }

    public void Reconnected() => _reconnects.Add(1);

    /// <summary>An attempt that opened no tunnel: unreachable, tls, timeout, refused, redirected, asked_to_wait or other.</summary>
    public void ConnectFailed(string reason) => _connectFailures.Add(1, new KeyValuePair<string, object?>("wstunnel.reason", reason));

    public void SetConnected(bool connected) => Volatile.Write(ref _connected, connected ? 1 : 0);
}
