namespace WStunnel.Protocol.Transports;

/// <summary>
/// Moves ordered batches of whole frames between the two ends of a session. The session never
/// knows which transport it runs on.
/// </summary>
internal interface ITunnelTransport : IAsyncDisposable
{
    /// <summary>A short name for logs and status, e.g. <c>websocket</c>.</summary>
    string Name { get; }

    /// <summary>Sends one batch. Only one send is in flight at a time.</summary>
    ValueTask SendAsync(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken);

    /// <summary>Receives the next bytes of the frame stream; 0 when the peer closed the transport.</summary>
    ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>
    /// Waits until bytes can be received, without a buffer of the caller's; false when the peer
    /// closed the transport. Transports that cannot wait without a buffer say true at once.
    /// </summary>
    ValueTask<bool> WaitToReceiveAsync(CancellationToken cancellationToken) => ValueTask.FromResult(true);

    /// <summary>Closes gracefully after the last batch was sent.</summary>
    Task CloseAsync(CancellationToken cancellationToken);

    /// <summary>Tears the transport down at once; pending sends and receives fail.</summary>
    void Abort();
}
