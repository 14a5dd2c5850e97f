using System.Threading.Tasks.Sources;

namespace WStunnel.Protocol.Session;

/// <summary>
/// Wakes a session's write loop, or a stream's writer waiting for credit: any number of wakers,
/// one waiter at a time, and wake-ups that arrive while the waiter is busy fold into one. A channel
/// did this before at the cost of a queue, its reader and writer and two waiter objects in every
/// session (≈ 0.9 KiB per idle tunnel) and a lock per wake-up; this is one state word and one
/// reusable completion.
/// </summary>
internal sealed class WakeSignal : IValueTaskSource, IThreadPoolWorkItem
{
    private const int Idle = 0;
    private const int Signalled = 1;
    private const int Waiting = 2;

    // Completed from the thread pool's global queue (Execute), never inside Set: the waker may hold
    // the session's lock, and a continuation in the waker's local queue would wait for the waker's
    // request to finish (the core's own asynchronous continuations go there; a channel's do not).
    private ManualResetValueTaskSourceCore<bool> _core;
    private CancellationTokenRegistration _registration;
    private CancellationToken _waitToken;
    private bool _cancelled;
    private int _state;

    /// <summary>Wakes the waiter, or the next wait if none is waiting.</summary>
    public void Set()
    {
        while (true)
        {
            switch (Volatile.Read(ref _state))
            {
                case Signalled:
                    return;
                case Idle when Interlocked.CompareExchange(ref _state, Signalled, Idle) == Idle:
                    return;
                case Waiting when Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting:
                    ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                    return;
            }
        }
    }

    /// <summary>Completes at the next <see cref="Set"/> (at once if one came since the last wait); one waiter at a time.</summary>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Signalled) == Signalled)
        {
            return ValueTask.CompletedTask;
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        _core.Reset();
        _waitToken = cancellationToken;
        _cancelled = false;
        if (Interlocked.CompareExchange(ref _state, Waiting, Idle) != Idle)
        {
            // A Set came between the two exchanges: it is this wait's.
            Volatile.Write(ref _state, Idle);
            return ValueTask.CompletedTask;
        }

        _registration = cancellationToken.UnsafeRegister(static signal => ((WakeSignal)signal!).Cancel(), this);
        return new ValueTask(this, _core.Version);
    }

    void IThreadPoolWorkItem.Execute()
    {
        if (_cancelled)
        {
            _core.SetException(new OperationCanceledException(_waitToken));
        }
        else
        {
            _core.SetResult(true);
        }
    }

    private void Cancel()
    {
        // Whoever cancels may hold a lock too.
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
        {
            _cancelled = true;
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    void IValueTaskSource.GetResult(short token)
    {
        _registration.Dispose();
        _registration = default;
        _core.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
