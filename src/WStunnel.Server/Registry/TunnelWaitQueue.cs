using WStunnel.Protocol.Session;

namespace WStunnel.Server.Registry;

/// <summary>
/// Requests waiting for a tunnel's agent to come back. They are let through in arrival order: each
/// opens its stream only after the one before it did, and requests that arrive while others still
/// wait join the line rather than overtake it.
/// </summary>
internal sealed class TunnelWaitQueue
{
    private readonly Lock _lock = new();
    private TaskCompletionSource<TunnelSession?> _nextSession = NewSessionSignal();
    private Task _tail = Task.CompletedTask;
    private int _waiting;
    private bool _closed;

    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Whether a request must join the line instead of going straight to the session.</summary>
    public bool HasLine => Volatile.Read(ref _waiting) > 0;

    /// <summary>Takes a place in line, or null when <paramref name="maxWaiting"/> are already waiting.</summary>
    public Place? TryEnter(int maxWaiting)
    {
        lock (_lock)
        {
            if (_waiting >= maxWaiting)
            {
                return null;
            }

            _waiting++;
            var turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var place = new Place(this, _tail, turn);
            _tail = turn.Task;
            return place;
        }
    }

    /// <summary>An agent's session is serving the tunnel again: wake the line.</summary>
    public void SessionAvailable(TunnelSession session)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            _nextSession.TrySetResult(session);
            _nextSession = NewSessionSignal();
        }
    }

    /// <summary>
    /// The tunnel is gone (the configuration removed it): no agent will wake the line, so the requests in
    /// it, and any that join it still, stop waiting at once instead of waiting out their timeout.
    /// </summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
            _nextSession.TrySetResult(null);
        }
    }

    // Completed with null once the line is closed, and stays so.
    private Task<TunnelSession?> NextSession
    {
        get
        {
            lock (_lock)
            {
                return _nextSession.Task;
            }
        }
    }

    private void Leave()
    {
        lock (_lock)
        {
            _waiting--;
        }
    }

    private static TaskCompletionSource<TunnelSession?> NewSessionSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>One request's place in line. Dispose it once its stream is open (or it gave up) to let the next go.</summary>
    internal sealed class Place(TunnelWaitQueue queue, Task predecessor, TaskCompletionSource turn) : IDisposable
    {
        private int _disposed;

        /// <summary>Waits for the requests ahead, then for a session that takes streams; null when the line was closed.</summary>
        public async Task<TunnelSession?> WaitAsync(Func<TunnelSession?> current, CancellationToken cancellationToken)
        {
            await predecessor.WaitAsync(cancellationToken).ConfigureAwait(false);
            while (true)
            {
                var next = queue.NextSession;
                if (current() is { IsAvailable: true } session)
                {
                    return session;
                }

                // The session that woke the line; when the configuration changed the tunnel, it serves the
                // entry that took this line over, which the waiting request does not know.
                switch (await next.WaitAsync(cancellationToken).ConfigureAwait(false))
                {
                    case { IsAvailable: true } arrived:
                        return arrived;
                    case null:
                        return null;
                }
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                queue.Leave();
                turn.TrySetResult();
            }
        }
    }
}
