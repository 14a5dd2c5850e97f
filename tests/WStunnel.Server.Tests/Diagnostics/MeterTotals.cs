using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace WStunnel.Server.Tests.Diagnostics;

/// <summary>What the counters of one meter from one meter factory recorded, by instrument and tags.</summary>
internal sealed class MeterTotals : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();

    public MeterTotals(IMeterFactory factory, string meterName)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName && instrument.Meter.Scope == factory)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => _totals.AddOrUpdate(Key(instrument.Name, tags), value, (_, total) => total + value));
        _listener.Start();
    }

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

    public void Dispose() => _listener.Dispose();
}
