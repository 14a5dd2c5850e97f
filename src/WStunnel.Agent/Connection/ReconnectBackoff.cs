namespace WStunnel.Agent.Connection;

/// <summary>
/// Exponential backoff with full jitter: the n-th delay is uniform in [0, min(cap, base × 2ⁿ)],
/// so many agents losing one gateway do not reconnect in lockstep. When the gateway said when to
/// come back (<c>Retry-After</c>), the delay is no shorter than that, within the cap.
/// </summary>
internal sealed class ReconnectBackoff(TimeSpan baseDelay, TimeSpan maxDelay, Random random)
{
    private int _failures;

    public int Failures => _failures;

    public TimeSpan NextDelay(TimeSpan? retryAfter = null)
    {
        var ceiling = Math.Min(maxDelay.TotalMilliseconds, baseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(_failures, 30)));
        _failures++;
        var delay = random.NextDouble() * ceiling;
        if (retryAfter is { } asked && asked > TimeSpan.Zero)
        {
            // Up to a quarter later than asked, so that agents told the same time do not return together;
            // where the cap is shorter, up to a quarter before the cap, for the same reason.
            var later = asked.TotalMilliseconds * (1 + (random.NextDouble() / 4));
            var capped = maxDelay.TotalMilliseconds * (1 - (random.NextDouble() / 4));
            delay = Math.Max(delay, Math.Min(later, capped));
        }

        return TimeSpan.FromMilliseconds(delay);
    }

    public void Reset() => _failures = 0;
}
