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
    public void A_wait_the_gateway_asked_for_is_kept_and_spread_by_up_to_a_quarter()
    {
        var backoff = new ReconnectBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), new Random(5));
        var delays = Enumerable.Range(0, 200).Select(_ => backoff.NextDelay(TimeSpan.FromSeconds(20)).TotalSeconds).ToArray();
        Assert.All(delays, d => Assert.InRange(d, 20, 60)); // once the backoff's own ceiling passes 20 s, it may wait longer
        var first = new ReconnectBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), new Random(9));
        var spread = Enumerable.Range(0, 200).Select(_ => { first.Reset(); return first.NextDelay(TimeSpan.FromSeconds(20)).TotalSeconds; }).ToArray();
        Assert.All(spread, d => Assert.InRange(d, 20, 25));
        Assert.True(spread.Max() - spread.Min() > 3, $"agents told alike must not return together: {spread.Min():0.0}..{spread.Max():0.0}");
    }

    [Fact]
    public void A_wait_longer_than_the_cap_is_cut_to_the_cap_and_spread_below_it()
    {
        var backoff = new ReconnectBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), new Random(11));
        var delays = Enumerable.Range(0, 200).Select(_ => { backoff.Reset(); return backoff.NextDelay(TimeSpan.FromHours(1)).TotalSeconds; }).ToArray();
        Assert.All(delays, d => Assert.InRange(d, 45, 60));
        Assert.True(delays.Max() - delays.Min() > 5, $"spread {delays.Min():0.0}..{delays.Max():0.0}");
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
