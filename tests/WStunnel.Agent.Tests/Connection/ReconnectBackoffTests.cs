using WStunnel.Agent.Connection;

namespace WStunnel.Agent.Tests.Connection;

public sealed class ReconnectBackoffTests
{
    [Fact]
    public void Delays_are_jittered_below_a_ceiling_that_doubles_up_to_the_cap()
    {
        var backoff = new ReconnectBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), new Random(42));
        var ceilings = new[] { 1, 2, 4, 8, 16, 30, 30, 30 };
        var delays = ceilings.Select(_ => backoff.NextDelay()).ToArray();
        for (var i = 0; i < ceilings.Length; i++)
        {
            Assert.InRange(delays[i], TimeSpan.Zero, TimeSpan.FromSeconds(ceilings[i]));
        }

        Assert.True(delays.Distinct().Count() > 1, "full jitter: delays differ");
    }

    [Fact]
    public void Full_jitter_spreads_over_the_whole_range()
    {
        var backoff = new ReconnectBackoff(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10), new Random(7));
        var delays = Enumerable.Range(0, 1000).Select(_ => backoff.NextDelay().TotalSeconds).ToArray();
        Assert.True(delays.Min() < 1 && delays.Max() > 9, $"spread {delays.Min():0.0}..{delays.Max():0.0}");
    }

    [Fact]
    public void Reset_starts_again_from_the_base_delay()
    {
        var backoff = new ReconnectBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1), new Random(1));
        for (var i = 0; i < 10; i++)
        {
            backoff.NextDelay();
        }

        backoff.Reset();
        Assert.Equal(0, backoff.Failures);
        Assert.InRange(backoff.NextDelay(), TimeSpan.Zero, TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Many_failures_never_overflow_the_cap()
    {
        var backoff = new ReconnectBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), new Random(3));
        for (var i = 0; i < 10_000; i++)
        {
            Assert.InRange(backoff.NextDelay(), TimeSpan.Zero, TimeSpan.FromSeconds(60));
        }
    }
}
