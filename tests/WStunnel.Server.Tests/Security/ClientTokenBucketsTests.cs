using System.Net;
using Microsoft.Extensions.Time.Testing;
using WStunnel.Server.Security;

namespace WStunnel.Server.Tests.Security;

public sealed class ClientTokenBucketsTests
{
    private static readonly IPAddress Client = IPAddress.Parse("203.0.113.7");
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void A_client_gets_its_permits_at_once_then_waits_for_the_next_one()
    {
        var buckets = new ClientTokenBuckets(permits: 6, TimeSpan.FromMinutes(1), _time);

        for (var i = 0; i < 6; i++)
        {
            Assert.True(buckets.TryTake(Client, out _));
        }

        Assert.False(buckets.TryTake(Client, out var retryAfter));
        Assert.Equal(10, retryAfter.TotalSeconds, precision: 3); // six a minute: one every ten seconds
    }

    [Fact]
    public void Permits_come_back_with_time_at_the_configured_rate_and_never_beyond_the_limit()
    {
        var buckets = new ClientTokenBuckets(permits: 6, TimeSpan.FromMinutes(1), _time);
        for (var i = 0; i < 6; i++)
        {
            Assert.True(buckets.TryTake(Client, out _));
        }

        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(buckets.TryTake(Client, out var retryAfter));
        Assert.Equal(1, retryAfter.TotalSeconds, precision: 3);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(buckets.TryTake(Client, out _));
        Assert.False(buckets.TryTake(Client, out _));

        _time.Advance(TimeSpan.FromHours(1)); // a full bucket holds six, however long it waited
        Assert.Equal(6, Enumerable.Range(0, 10).Count(i => buckets.TryTake(Client, out _)));
    }

    [Fact]
    public void Each_client_has_its_own_bucket()
    {
        var buckets = new ClientTokenBuckets(permits: 1, TimeSpan.FromMinutes(1), _time);

        Assert.True(buckets.TryTake(Client, out _));
        Assert.False(buckets.TryTake(Client, out _));
        Assert.True(buckets.TryTake(IPAddress.Parse("198.51.100.1"), out _));
    }

    [Fact]
    public void Buckets_full_again_are_dropped_once_a_period_and_an_emptied_one_is_kept()
    {
        var buckets = new ClientTokenBuckets(permits: 2, TimeSpan.FromMinutes(1), _time);
        for (var i = 0; i < 100; i++)
        {
            Assert.True(buckets.TryTake(IPAddress.Parse($"198.51.100.{i}"), out _));
        }

        Assert.Equal(100, buckets.Count);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.True(buckets.TryTake(Client, out _)); // the request that finds the sweep due: the others are full again
        Assert.True(buckets.TryTake(Client, out _));
        Assert.Equal(1, buckets.Count);

        _time.Advance(TimeSpan.FromSeconds(61));
        Assert.True(buckets.TryTake(IPAddress.Parse("198.51.100.200"), out _)); // the client's bucket refilled: dropped too
        Assert.Equal(1, buckets.Count);
    }
}
