using WStunnel.Protocol.Session;

namespace WStunnel.Server.Forwarding;

/// <summary>
/// The whole-request limit (<see cref="WStunnelOptions.RequestTimeout"/>): one clock from the request's
/// arrival to the end of its response body. Before the response starts it cancels the waiting (the
/// caller answers 504); afterwards it resets the tunnel stream, which cuts the client's response off.
/// </summary>
internal sealed class RequestDeadline : IDisposable
{
    private readonly CancellationTokenSource _timer;
    private readonly CancellationTokenSource _linked;
    private CancellationTokenRegistration _watch;

    public RequestDeadline(TimeSpan limit, TimeProvider time, CancellationToken requestAborted)
    {
        _timer = new CancellationTokenSource(limit, time);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, _timer.Token);
    }

    /// <summary>Cancelled when the request is aborted or the deadline passes.</summary>
    public CancellationToken Token => _linked.Token;

    public bool Expired => _timer.IsCancellationRequested;

    /// <summary>From now on the deadline ends <paramref name="stream"/> (and so the response body).</summary>
    public void Watch(TunnelStream stream)
    {
        _watch.Dispose(); // a stream refused earlier and sent again
        _watch = _timer.Token.UnsafeRegister(static s => ((TunnelStream)s!).Reset(), stream);
    }

    public void Dispose()
    {
        _watch.Dispose();
        _linked.Dispose();
        _timer.Dispose();
    }
}
