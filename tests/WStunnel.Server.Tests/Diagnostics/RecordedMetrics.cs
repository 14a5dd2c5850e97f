using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Tests.Diagnostics;

/// <summary>A gateway's metrics with a private meter factory, and what its counters recorded, by instrument and tags.</summary>
internal sealed class RecordedMetrics : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();

    public RecordedMetrics(TunnelRegistry registry)
    {
        Metrics = new GatewayMetrics(_services.GetRequiredService<IMeterFactory>(), registry);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == GatewayMetrics.MeterName && instrument.Meter.Scope == _services.GetRequiredService<IMeterFactory>())
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => _totals.AddOrUpdate(Key(instrument.Name, tags), value, (_, total) => total + value));
        _listener.Start();
    }

    public GatewayMetrics Metrics { get; }

    /// <summary>The total recorded on <paramref name="instrument"/> with exactly these tag values (name=value, in order).</summary>
    public long Total(string instrument, params string[] tags) => _totals.GetValueOrDefault(instrument + "|" + string.Join(",", tags));

    private static string Key(string instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var parts = new List<string>();
        foreach (var (name, value) in tags)
        {
            parts.Add($"{name}={value}");
        }

        return instrument + "|" + string.Join(",", parts);
    }

    public void Dispose()
    {
        _listener.Dispose();
        _services.Dispose();
    }
}
