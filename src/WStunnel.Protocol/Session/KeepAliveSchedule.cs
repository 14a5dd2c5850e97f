using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace WStunnel.Protocol.Session;

/// <summary>
/// The keep-alive checks of every session that shares a clock and an interval, on one timer. The
/// interval is cut into <see cref="Slots"/> ticks; a session joins the slot of the tick after it
/// starts, and each tick checks one slot, so every session is still checked once per interval and
/// the pings of many sessions stay spread over time. With a timer per session, a gateway with 10,000
/// idle agents ran about 670 timer callbacks a second, each handed to the thread pool on its own,
/// whose threads woke and spun for each: two thirds of its idle CPU (≈ 200 ms a second against ≈ 65
/// on one timer). The timer skips the ticks of empty slots: an agent's one session wakes it once an
/// interval, not sixteen times (each wake-up costs a thread-pool worker's spin).
/// </summary>
internal sealed class KeepAliveSchedule
{
    private const int Slots = 16;

    private static readonly ConditionalWeakTable<TimeProvider, ConcurrentDictionary<TimeSpan, KeepAliveSchedule>> Schedules = [];

    private readonly TimeProvider _time;
    private readonly TimeSpan _tick;
    private readonly Lock _lock = new();
    private readonly HashSet<TunnelSession>[] _slots = new HashSet<TunnelSession>[Slots];
    private long _origin; // when tick 0 was, since the first session of this run of the timer
    private long _nextTick; // the tick the timer is set for
    private int _count;
    private ITimer? _timer;

    private KeepAliveSchedule(TimeProvider time, TimeSpan interval)
    {
        _time = time;
        _tick = TimeSpan.FromTicks(Math.Max(1, interval.Ticks / Slots)); // never zero: elapsed time is divided by it
        for (var i = 0; i < Slots; i++)
        {
            _slots[i] = [];
        }
    }

    /// <summary>The schedule of the sessions that check every <paramref name="interval"/> on <paramref name="time"/>.</summary>
    public static KeepAliveSchedule For(TimeProvider time, TimeSpan interval) =>
        Schedules.GetValue(time, static _ => new()).GetOrAdd(interval, static (interval, time) => new KeepAliveSchedule(time, interval), time);

    /// <summary>
    /// Checks <paramref name="session"/> from now on. It joins the slot of the next tick: that first
    /// check finds it just started, and the one after comes a whole interval later.
    /// </summary>
    public void Add(TunnelSession session)
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            if (_count == 0)
            {
                _origin = now;
            }

            var tick = TickAt(now) + 1;
            if (!_slots[tick % Slots].Add(session))
            {
                return;
            }

            if (_count++ == 0)
            {
                _nextTick = tick;
                _timer = CreateTimer(DueIn(tick, now));
            }
            else if (tick < _nextTick)
            {
                _nextTick = tick; // sooner than the tick the timer is set for, which skips empty slots
                _timer!.Change(DueIn(tick, now), Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>Stops checking <paramref name="session"/>; the timer goes when the last session does.</summary>
    public void Remove(TunnelSession session)
    {
        lock (_lock)
        {
            foreach (var slot in _slots)
            {
                if (slot.Remove(session))
                {
                    if (--_count == 0)
                    {
                        _timer?.Dispose();
                        _timer = null;
                    }

                    return;
                }
            }
        }
    }

    private long TickAt(long timestamp) => _time.GetElapsedTime(_origin, timestamp).Ticks / _tick.Ticks;

    private TimeSpan DueIn(long tick, long now)
    {
        var due = (_tick * tick) - _time.GetElapsedTime(_origin, now);
        return due > TimeSpan.Zero ? due : TimeSpan.Zero;
    }

    // The timer lives for every session to come: it must not capture the context (an Activity, say)
    // of whichever one started it. It fires once; each tick sets it for the next slot with sessions.
    private ITimer CreateTimer(TimeSpan due)
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            return _time.CreateTimer(static schedule => ((KeepAliveSchedule)schedule!).Tick(), this, due, Timeout.InfiniteTimeSpan);
        }

        using (ExecutionContext.SuppressFlow())
        {
            return CreateTimer(due);
        }
    }

    private void Tick()
    {
        TunnelSession[] due;
        lock (_lock)
        {
            if (_timer is null)
            {
                return; // the last session left meanwhile
            }

            var slot = _slots[_nextTick % Slots];
            due = slot.Count == 0 ? [] : [.. slot];
            var ahead = 1;
            while (ahead < Slots && _slots[(_nextTick + ahead) % Slots].Count == 0)
            {
                ahead++;
            }

            _nextTick += ahead;
            _timer.Change(DueIn(_nextTick, _time.GetTimestamp()), Timeout.InfiniteTimeSpan);
        }

        // Outside the lock: a check may end its session, which removes it from the schedule.
        foreach (var session in due)
        {
            session.CheckKeepAlive(this);
        }
    }
}
