using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Tests.Diagnostics;

/// <summary>A gateway's metrics with a private meter factory, and what its counters recorded, by instrument and tags.</summary>
internal sealed class RecordedMetrics : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly MeterTotals _totals;

    public RecordedMetrics(TunnelRegistry registry)
    {
        var factory = _services.GetRequiredService<IMeterFactory>();
        _totals = new MeterTotals(factory, GatewayMetrics.MeterName);
        Metrics = new GatewayMetrics(factory, registry);
    }

    public GatewayMetrics Metrics { get; }

    /// <summary>The total recorded on <paramref name="instrument"/> with exactly these tag values (name=value, in order).</summary>
    public long Total(string instrument, params string[] tags) => _totals.Total(instrument, tags);

    public void Dispose()
    {
        _totals.Dispose();
        _services.Dispose();
    }
}
