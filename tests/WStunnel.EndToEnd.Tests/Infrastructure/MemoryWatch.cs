namespace WStunnel.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Samples the managed heap's live objects while a transfer runs. Gateway, agent and backend share the
/// test process, so a whole body buffered anywhere would show up as growth of at least its size. Each
/// sample follows a full collection: without it the figure counts garbage not yet collected, up to
/// the young generation's budget, which the GC sizes from the CPU's cache (130 MiB with a 260 MiB L3).
/// </summary>
internal sealed class MemoryWatch : IDisposable
{
    private readonly long _baseline;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampler;
    private long _peak;

    private MemoryWatch()
    {
        _baseline = GC.GetTotalMemory(forceFullCollection: true);
        _peak = _baseline;
        _sampler = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                GC.Collect();
                var now = GC.GetTotalMemory(forceFullCollection: false);
                if (now > Interlocked.Read(ref _peak))
                {
                    Interlocked.Exchange(ref _peak, now);
                }

                await Task.Delay(20);
            }
        });
    }

    public static MemoryWatch Start() => new();

    public void AssertGrowthBelow(long bytes, string what)
    {
        _stop.Cancel();
        _sampler.Wait();
        var growth = Interlocked.Read(ref _peak) - _baseline;
        Assert.True(growth < bytes, $"{what}: managed heap grew by {growth / (1024 * 1024)} MiB (limit {bytes / (1024 * 1024)} MiB)");
    }

    public void Dispose()
    {
        _stop.Cancel();
        _sampler.Wait();
        _stop.Dispose();
    }
}
