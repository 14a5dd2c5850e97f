namespace WStunnel.Agent.Connection;

/// <summary>
/// Exponential backoff with full jitter: the n-th delay is uniform in [0, min(cap, base × 2ⁿ)],
/// so many agents losing one gateway do not reconnect in lockstep.
/// </summary>
internal sealed class ReconnectBackoff(TimeSpan baseDelay, TimeSpan maxDelay, Random random)
{
    private int _failures;

    public int Failures => _failures;

    public TimeSpan NextDelay()
    {
        var ceiling = Math.Min(maxDelay.TotalMilliseconds, baseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(_failures, 30)));
        _failures++;
        return TimeSpan.FromMilliseconds(random.NextDouble() * ceiling);
    }

    public void Reset() => _failures = 0;
}
