namespace WStunnel.Server.Registry;

/// <summary>What went through one tunnel since the gateway started: for the status API and <c>/_stats</c>.</summary>
internal sealed class TunnelTraffic
{
    private long _requests;
    private long _errors;
    private long _bytesToAgent;
    private long _bytesFromAgent;
    private long _lastRequestUnixMs;

    public long Requests => Interlocked.Read(ref _requests);

    public long Errors => Interlocked.Read(ref _errors);

    public long BytesToAgent => Interlocked.Read(ref _bytesToAgent);

    public long BytesFromAgent => Interlocked.Read(ref _bytesFromAgent);

    public DateTimeOffset? LastRequestAt => Interlocked.Read(ref _lastRequestUnixMs) is var ms and > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    public void RequestStarted(DateTimeOffset now)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Exchange(ref _lastRequestUnixMs, now.ToUnixTimeMilliseconds());
    }

    public void RequestFailed() => Interlocked.Increment(ref _errors);

    public void SentToAgent(int bytes) => Interlocked.Add(ref _bytesToAgent, bytes);

    public void ReceivedFromAgent(int bytes) => Interlocked.Add(ref _bytesFromAgent, bytes);
}
