using System.Collections.Concurrent;
using System.Net;

namespace WStunnel.Server.Security;

/// <summary>
/// One token bucket per client address, each holding up to <c>permits</c> and refilling at
/// <c>permits</c> a period — worked out from the time since it was last used, so no timer runs for
/// them. (.NET's <c>PartitionedRateLimiter</c> wakes every 100 ms for as long as it lives, whether
/// anyone asks or not: for the gateway's two limits, most of an idle gateway's CPU.) A bucket left
/// alone until it is full again is no different from a new one, so full buckets are dropped, in a
/// sweep at most once a period, made by the request that finds it due.
/// </summary>
internal sealed class ClientTokenBuckets
{
    private readonly ConcurrentDictionary<IPAddress, Bucket> _buckets = new();
    private readonly double _permits;
    private readonly double _permitsPerTick;
    private readonly long _periodTicks;
    private readonly TimeProvider _time;
    private long _nextSweep;

    public ClientTokenBuckets(int permits, TimeSpan period, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(permits, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(period, TimeSpan.Zero);
        ArgumentNullException.ThrowIfNull(time);
        _permits = permits;
        _periodTicks = (long)(period.TotalSeconds * time.TimestampFrequency);
        _permitsPerTick = permits / (double)_periodTicks;
        _time = time;
        _nextSweep = time.GetTimestamp() + _periodTicks;
    }

    /// <summary>The buckets held now (the others are full).</summary>
    internal int Count => _buckets.Count;

    /// <summary>Takes a permit from <paramref name="client"/>'s bucket; if there is none, says when the next one will be there.</summary>
    public bool TryTake(IPAddress client, out TimeSpan retryAfter)
    {
        ArgumentNullException.ThrowIfNull(client);
        var now = _time.GetTimestamp();
        SweepIfDue(now);
        while (true)
        {
            var bucket = _buckets.GetOrAdd(client, static (_, state) => new Bucket(state.Permits, state.Now), (Permits: _permits, Now: now));
            lock (bucket)
            {
                if (bucket.Dropped)
                {
                    continue; // a sweep took it away meanwhile: a new one stands in for it
                }

                Refill(bucket, now);
                if (bucket.Tokens >= 1)
                {
                    bucket.Tokens -= 1;
                    retryAfter = TimeSpan.Zero;
                    return true;
                }

                retryAfter = TimeSpan.FromSeconds((1 - bucket.Tokens) / _permitsPerTick / _time.TimestampFrequency);
                return false;
            }
        }
    }

    private void Refill(Bucket bucket, long now)
    {
        if (now > bucket.Updated)
        {
            bucket.Tokens = Math.Min(_permits, bucket.Tokens + ((now - bucket.Updated) * _permitsPerTick));
            bucket.Updated = now;
        }
    }

    private void SweepIfDue(long now)
    {
        var due = Volatile.Read(ref _nextSweep);
        if (now < due || Interlocked.CompareExchange(ref _nextSweep, now + _periodTicks, due) != due)
        {
            return;
        }

        foreach (var (client, bucket) in _buckets)
        {
            lock (bucket)
            {
                Refill(bucket, now);
                if (bucket.Tokens >= _permits)
                {
                    bucket.Dropped = true;
                    _buckets.TryRemove(new KeyValuePair<IPAddress, Bucket>(client, bucket));
                }
            }
        }
    }

    private sealed class Bucket(double tokens, long updated)
    {
        public double Tokens { get; set; } = tokens;

        public long Updated { get; set; } = updated;

        public bool Dropped { get; set; }
    }
}
