using WStunnel.Protocol.Frames;
using WStunnel.Protocol.Session;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Tests.Registry;

public sealed class TunnelEntryTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch;

    [Fact]
    public async Task A_single_agent_tunnel_replaces_its_session_and_says_which()
    {
        var tunnel = new TunnelEntry(TokenKey.From("single-agent-token-0123"), null);
        var first = await SessionFactory.AvailableSessionAsync();
        var second = await SessionFactory.AvailableSessionAsync();

        Assert.Null(tunnel.Attach(first));
        Assert.Same(first, tunnel.Attach(second));

        Assert.Same(second, Assert.Single(tunnel.Sessions));
        Assert.False(tunnel.Detach(first, Now)); // the replaced session leaving changes nothing
        Assert.Same(second, tunnel.Session);
    }

    [Fact]
    public async Task A_pool_keeps_every_agent_and_stamps_the_time_only_when_the_last_leaves()
    {
        var pool = Pool(PoolBalancing.RoundRobin);
        var first = await SessionFactory.AvailableSessionAsync();
        var second = await SessionFactory.AvailableSessionAsync();

        Assert.Null(pool.Attach(first));
        Assert.Null(pool.Attach(second));
        Assert.Null(pool.Attach(first)); // a resumed session does not join twice
        Assert.Equal(2, pool.Sessions.Count);

        Assert.True(pool.Detach(first, Now));
        Assert.Null(pool.DisconnectedAt);
        Assert.True(pool.Detach(second, Now));
        Assert.Equal(Now, pool.DisconnectedAt);
        Assert.Null(pool.Session);
    }

    [Fact]
    public async Task Round_robin_takes_each_agent_in_turn()
    {
        var pool = Pool(PoolBalancing.RoundRobin);
        TunnelSession[] agents = [await SessionFactory.AvailableSessionAsync(), await SessionFactory.AvailableSessionAsync(), await SessionFactory.AvailableSessionAsync()];
        foreach (var agent in agents)
        {
            pool.Attach(agent);
        }

        var picks = Enumerable.Range(0, 30).Select(_ => pool.Session!).ToList();

        Assert.All(agents, agent => Assert.Equal(10, picks.Count(p => ReferenceEquals(p, agent))));
    }

    [Fact]
    public async Task Least_requests_picks_the_agent_with_the_fewest_requests_in_flight()
    {
        var pool = Pool(PoolBalancing.LeastRequests);
        var busy = await SessionFactory.AvailableSessionAsync();
        var idle = await SessionFactory.AvailableSessionAsync();
        pool.Attach(busy);
        pool.Attach(idle);
        for (var i = 0; i < 3; i++)
        {
            await busy.OpenStreamAsync(new RequestHead { Method = "GET", PathAndQuery = "/" }, endStream: true, default);
        }

        Assert.All(Enumerable.Range(0, 10), _ => Assert.Same(idle, pool.Session));
    }

    [Fact]
    public async Task Least_requests_spreads_ties_over_all_agents()
    {
        var pool = Pool(PoolBalancing.LeastRequests);
        var first = await SessionFactory.AvailableSessionAsync();
        var second = await SessionFactory.AvailableSessionAsync();
        pool.Attach(first);
        pool.Attach(second);

        var picks = Enumerable.Range(0, 10).Select(_ => pool.Session!).ToList();

        Assert.Equal(5, picks.Count(p => ReferenceEquals(p, first)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_agent_that_takes_no_streams_gets_no_requests(bool roundRobin)
    {
        var pool = Pool(roundRobin ? PoolBalancing.RoundRobin : PoolBalancing.LeastRequests);
        var leaving = await SessionFactory.AvailableSessionAsync();
        var staying = await SessionFactory.AvailableSessionAsync();
        pool.Attach(leaving);
        pool.Attach(staying);

        leaving.GoAway(ErrorCode.NoError, "stopping");

        Assert.All(Enumerable.Range(0, 10), _ => Assert.Same(staying, pool.Session));
    }

    private static TunnelEntry Pool(PoolBalancing balancing) =>
        new(TokenKey.From("pool-token-0123456789"), "pool") { MaxAgents = 3, Balancing = balancing };
}
