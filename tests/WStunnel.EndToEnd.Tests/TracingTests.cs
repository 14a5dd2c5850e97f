using System.Collections.Concurrent;
using System.Diagnostics;
using WStunnel.EndToEnd.Tests.Infrastructure;

namespace WStunnel.EndToEnd.Tests;

/// <summary>Trace context crosses the tunnel: the backend's parent is the gateway's WStunnel activity, in the client's trace.</summary>
public sealed class TracingTests(TunnelFixture fixture) : IClassFixture<TunnelFixture>, IDisposable
{
    private readonly ConcurrentDictionary<ActivitySpanId, Activity> _stopped = new();
    private ActivityListener? _listener;

    public void Dispose() => _listener?.Dispose();

    [Fact]
    public async Task The_backend_receives_a_traceparent_whose_parent_is_the_gateways_WStunnel_activity()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "WStunnel" or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = activity => _stopped[activity.SpanId] = activity,
        };
        ActivitySource.AddActivityListener(_listener);
        var traceId = ActivityTraceId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/_token/{fixture.Token}/echo/traced");
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");

        var echo = await (await fixture.Client.SendAsync(request)).Content.ReadAsStringAsync();

        var traceparent = echo.Split('\n').Single(line => line.StartsWith("header:traceparent=", StringComparison.Ordinal))["header:traceparent=".Length..];
        var parts = traceparent.Split('-');
        Assert.Equal(traceId.ToHexString(), parts[1]);
        var parent = _stopped[ActivitySpanId.CreateFromString(parts[2])];
        Assert.Equal("WStunnel", parent.Source.Name);
        Assert.Equal(ActivityKind.Client, parent.Kind);
        Assert.Equal(traceId, parent.TraceId);
    }
}
