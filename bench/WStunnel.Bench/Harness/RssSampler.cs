namespace WStunnel.Bench.Harness;

/// <summary>Samples the resident memory of some processes while a measurement runs, keeping each one's peak.</summary>
internal sealed class RssSampler : IAsyncDisposable
{
    private readonly ChildProcess[] _processes;
    private readonly long[] _peaks;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampling;

    public RssSampler(params ChildProcess[] processes)
    {
        _processes = processes;
        _peaks = processes.Select(p => p.ResidentBytes).ToArray();
        Baseline = [.. _peaks];
        _sampling = SampleAsync();
    }

    /// <summary>Resident bytes of each process when sampling began.</summary>
    public long[] Baseline { get; }

    /// <summary>Stops sampling and returns each process's peak.</summary>
    public async Task<long[]> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _sampling.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return [.. _peaks];
    }

    private async Task SampleAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            for (var i = 0; i < _processes.Length; i++)
            {
                _peaks[i] = Math.Max(_peaks[i], _processes[i].ResidentBytes);
            }

            await Task.Delay(20, _stop.Token).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
