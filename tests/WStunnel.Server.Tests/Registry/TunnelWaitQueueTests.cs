using WStunnel.Server.Registry;

namespace WStunnel.Server.Tests.Registry;

public sealed class TunnelWaitQueueTests
{
    [Fact]
    public async Task Waiting_requests_go_in_arrival_order_however_their_continuations_are_scheduled()
    {
        var queue = new TunnelWaitQueue();
        var places = Enumerable.Range(0, 10).Select(_ => queue.TryEnter(100)!).ToArray();
        var order = new List<int>();
        var session = await SessionFactory.AvailableSessionAsync();

        // Start the waiters in reverse: the line, not the scheduler, decides who goes first.
        var waiters = Enumerable.Range(0, 10).Reverse().Select(i => Task.Run(async () =>
        {
            await places[i].WaitAsync(() => session, default);
            lock (order)
            {
                order.Add(i);
            }

            places[i].Dispose();
        })).ToArray();
        queue.SessionAvailable(session);
        await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(Enumerable.Range(0, 10), order);
        Assert.Equal(0, queue.Waiting);
    }

    [Fact]
    public void The_line_is_bounded()
    {
        var queue = new TunnelWaitQueue();
        Assert.NotNull(queue.TryEnter(2));
        Assert.NotNull(queue.TryEnter(2));
        Assert.Null(queue.TryEnter(2));
        Assert.Equal(2, queue.Waiting);
    }

    [Fact]
    public async Task A_request_that_gives_up_lets_the_next_one_go()
    {
        var queue = new TunnelWaitQueue();
        var first = queue.TryEnter(10)!;
        var second = queue.TryEnter(10)!;
        var session = await SessionFactory.AvailableSessionAsync();
        var waiting = second.WaitAsync(() => session, default);
        Assert.False(waiting.IsCompleted);

        first.Dispose(); // e.g. its client went away
        Assert.Same(session, await waiting.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task A_closed_line_lets_every_request_go_without_a_session_even_one_that_joins_after()
    {
        var queue = new TunnelWaitQueue();
        var first = queue.TryEnter(10)!;
        var second = queue.TryEnter(10)!;
        var firstWaiting = first.WaitAsync(() => null, default);
        var secondWaiting = second.WaitAsync(() => null, default);

        queue.Close();

        Assert.Null(await firstWaiting.WaitAsync(TimeSpan.FromSeconds(20)));
        first.Dispose();
        Assert.Null(await secondWaiting.WaitAsync(TimeSpan.FromSeconds(20)));
        second.Dispose();
        using var late = queue.TryEnter(10)!;
        Assert.Null(await late.WaitAsync(() => null, default).WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task A_closed_line_is_not_woken_by_a_session()
    {
        var queue = new TunnelWaitQueue();
        queue.Close();
        queue.SessionAvailable(await SessionFactory.AvailableSessionAsync());

        using var place = queue.TryEnter(10)!;
        Assert.Null(await place.WaitAsync(() => null, default).WaitAsync(TimeSpan.FromSeconds(20)));
    }
}
