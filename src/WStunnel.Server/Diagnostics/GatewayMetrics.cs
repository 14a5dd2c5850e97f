using System.Diagnostics;
using System.Diagnostics.Metrics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Diagnostics;

/// <summary>
/// The gateway's instruments on the <c>WStunnel</c> meter. Tags are low-cardinality by design: no
/// tunnel names (there may be thousands) and never a token.
/// </summary>
internal sealed class GatewayMetrics
{
    public const string MeterName = "WStunnel";

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _registrations;
    private readonly Counter<long> _resumes;

    public GatewayMetrics(IMeterFactory meterFactory, TunnelRegistry registry)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("wstunnel.gateway.requests", "{request}", "Requests sent into tunnels or answered by the gateway on their behalf, by outcome.");
        _duration = meter.CreateHistogram<double>("wstunnel.gateway.request.duration", "s", "Time from a tunnel request's arrival to its response head.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _bytes = meter.CreateCounter<long>("wstunnel.gateway.bytes", "By", "Body bytes through tunnels, by direction.");
        _registrations = meter.CreateCounter<long>("wstunnel.gateway.registrations", "{registration}", "Agent registrations, by outcome (accepted or the refusal's status code).");
        _resumes = meter.CreateCounter<long>("wstunnel.gateway.resumes", "{resume}", "Sessions resumed on a new connection after theirs broke.");
        meter.CreateObservableUpDownCounter("wstunnel.gateway.sessions", () => registry.SessionCount, "{session}", "Agent sessions alive (connected or waiting to resume).");
        meter.CreateObservableUpDownCounter("wstunnel.gateway.queue.depth", () => registry.QueuedRequests, "{request}", "Requests waiting for an agent to come back.");
    }

    public void RequestCompleted(string outcome, long startTimestamp)
    {
        _requests.Add(1, new KeyValuePair<string, object?>("wstunnel.outcome", outcome));
        _duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, new KeyValuePair<string, object?>("wstunnel.outcome", outcome));
    }

    public void SentToAgent(int bytes) => _bytes.Add(bytes, new KeyValuePair<string, object?>("wstunnel.direction", "to_agent"));

    public void ReceivedFromAgent(int bytes) => _bytes.Add(bytes, new KeyValuePair<string, object?>("wstunnel.direction", "from_agent"));

    public void Registration(string outcome) => _registrations.Add(1, new KeyValuePair<string, object?>("wstunnel.outcome", outcome));

    public void Resumed() => _resumes.Add(1);
}
