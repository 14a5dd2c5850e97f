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

    // Set completes from the thread pool's global queue (Execute), never inline: the waker may hold
    // the session's lock, and a continuation in the waker's local queue would wait for the waker's
    // request to finish (the core's own asynchronous continuations go there; a channel's do not).
    // SetHere completes inline, for wakers that hold nothing.
    private ManualResetValueTaskSourceCore<bool> _core;
    private CancellationTokenRegistration _registration;
    private CancellationToken _waitToken;
    private bool _cancelled;
    private int _state;

    /// <summary>Wakes the waiter, or the next wait if none is waiting.</summary>
    public void Set()
    {
        if (TakeWaiter())
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>
    /// Wakes the waiter as <see cref="Set"/> does, but runs it on the calling thread until its next
    /// wait: the hand-off through the thread pool costs more than the waiter's pass when there is
    /// little to do. Only for a caller that holds no lock.
    /// </summary>
    public void SetHere()
    {
        if (TakeWaiter())
        {
            ((IThreadPoolWorkItem)this).Execute();
        }
    }

    /// <summary>Marks the wake-up; true when a waiter was waiting for it and is now the caller's to complete.</summary>
    private bool TakeWaiter()
    {
        while (true)
        {
            switch (Volatile.Read(ref _state))
            {
                case Signalled:
                    return false;
                case Idle when Interlocked.CompareExchange(ref _state, Signalled, Idle) == Idle:
                    return false;
                case Waiting when Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting:
                    return true;
            }
        }
    }

    /// <summary>Whether a waiter is waiting, with no wake-up pending.</summary>
    public bool IsWaiting => Volatile.Read(ref _state) == Waiting;

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
