using WStunnel.Protocol.Session;

namespace WStunnel.Protocol.Tests.Session;

public sealed class WakeSignalTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public void WaitAsync_AfterASet_CompletesAtOnce()
    {
        var signal = new WakeSignal();
        signal.Set();

        Assert.True(signal.WaitAsync(default).AsTask().IsCompletedSuccessfully);
    }

    [Fact]
    public void WaitAsync_WithoutASet_Waits()
    {
        var signal = new WakeSignal();

        Assert.False(signal.WaitAsync(default).AsTask().IsCompleted);
    }

    [Fact]
    public async Task Set_WhileWaiting_WakesTheWaiter()
    {
        var signal = new WakeSignal();
        var waiting = signal.WaitAsync(default).AsTask();

        signal.Set();

        await waiting.WaitAsync(Deadline);
    }

    [Fact]
    public async Task SetHere_WhileWaiting_RunsTheWaiterOnTheCallingThreadBeforeReturning()
    {
        var signal = new WakeSignal();
        var ranOn = 0;
        var waiter = WaitThenNoteThreadAsync(signal, id => ranOn = id);

        signal.SetHere();

        Assert.Equal(Environment.CurrentManagedThreadId, ranOn);
        await waiter.WaitAsync(Deadline);
    }

    [Fact]
    public void SetHere_WithoutAWaiter_WakesTheNextWait()
    {
        var signal = new WakeSignal();
        signal.SetHere();

        Assert.True(signal.WaitAsync(default).AsTask().IsCompletedSuccessfully);
        Assert.False(signal.WaitAsync(default).AsTask().IsCompleted);
    }

    [Fact]
    public async Task Sets_BeforeAWait_FoldIntoOneWakeUp()
    {
        var signal = new WakeSignal();
        signal.Set();
        signal.Set();
        signal.Set();

        await signal.WaitAsync(default);

        Assert.False(signal.WaitAsync(default).AsTask().IsCompleted);
    }

    [Fact]
    public async Task WaitAsync_Cancelled_ThrowsAndTheNextSetIsKeptForTheNextWait()
    {
        var signal = new WakeSignal();
        using var cancel = new CancellationTokenSource();
        var waiting = signal.WaitAsync(cancel.Token).AsTask();

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Deadline));

        signal.Set();
        Assert.True(signal.WaitAsync(default).AsTask().IsCompletedSuccessfully);
    }

    [Fact]
    public async Task WaitAsync_OnACancelledToken_ThrowsWithoutWaiting()
    {
        var signal = new WakeSignal();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => signal.WaitAsync(new CancellationToken(canceled: true)).AsTask());
    }

    [Fact]
    public async Task Set_FromManyThreads_NeverLosesTheLastWakeUp()
    {
        // The waiter counts what it has seen after each wake-up; however sets and waits interleave,
        // the last set is always followed by a wake-up that sees it.
        var signal = new WakeSignal();
        var produced = 0;
        var seen = 0;
        const int PerProducer = 20_000;
        var consumer = Task.Run(async () =>
        {
            while (Volatile.Read(ref seen) < 4 * PerProducer)
            {
                await signal.WaitAsync(default);
                Volatile.Write(ref seen, Volatile.Read(ref produced));
            }
        });

        var producers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < PerProducer; i++)
            {
                Interlocked.Increment(ref produced);
                signal.Set();
            }
        }));

        await Task.WhenAll(producers).WaitAsync(Deadline);
        await consumer.WaitAsync(Deadline);
        Assert.Equal(4 * PerProducer, Volatile.Read(ref seen));
    }

    [Fact]
    public async Task Set_DoesNotRunTheWaiterInline()
    {
        // Wakers hold the session's lock; the write loop must continue elsewhere.
        var signal = new WakeSignal();
        var continuedOn = signal.WaitAsync(default).AsTask().ContinueWith(
            _ => Environment.CurrentManagedThreadId, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        Assert.False(continuedOn.IsCompleted);

        var setter = new Thread(signal.Set);
        setter.Start();
        setter.Join();

        Assert.NotEqual(setter.ManagedThreadId, await continuedOn.WaitAsync(Deadline));
    }

    private static async Task WaitThenNoteThreadAsync(WakeSignal signal, Action<int> note)
    {
        await signal.WaitAsync(default).ConfigureAwait(false);
        note(Environment.CurrentManagedThreadId);
    }
}
