using Microsoft.Extensions.Options;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Tests.Registry;

public sealed class TunnelRegistryReconfigureTests
{
    private const string Token = "build-tunnel-token-0123456789";

    [Fact]
    public void An_unchanged_tunnel_keeps_its_entry()
    {
        using var registry = Registry(("build", Token, null));
        var entry = registry.FindByName("build");

        var change = registry.Reconfigure(Tunnels(("build", Token, null)));

        Assert.False(change.Any);
        Assert.Same(entry, registry.FindByName("build"));
    }

    [Fact]
    public async Task A_changed_secret_gives_a_new_entry_that_takes_over_the_waiting_requests_and_retires_the_old()
    {
        using var registry = Registry(("build", Token, "old-secret-0123456789"));
        var old = registry.FindByName("build")!;

        var change = registry.Reconfigure(Tunnels(("build", Token, "new-secret-0123456789")));

        var replacement = registry.FindByName("build")!;
        Assert.NotSame(old, replacement);
        Assert.Same(old.Queue, replacement.Queue);
        Assert.Same(old.Traffic, replacement.Traffic); // the status counts since the start, across rotations
        Assert.False(await WaitingStopsAtOnce(replacement.Queue));
        Assert.Same(replacement, registry.FindByToken(Token));
        Assert.Equal(["build"], change.Changed);
        Assert.Equal([old], change.Retired);
    }

    [Fact]
    public async Task A_removed_tunnel_is_forgotten_and_retired_its_waiting_requests_let_go_and_an_added_one_is_known_at_once()
    {
        using var registry = Registry(("build", Token, null));
        var old = registry.FindByName("build")!;

        var change = registry.Reconfigure(Tunnels(("docs", "docs-tunnel-token-0123456789", null)));

        Assert.Null(registry.FindByName("build"));
        Assert.Null(registry.FindByToken(Token));
        Assert.NotNull(registry.FindByName("docs"));
        Assert.Equal(["docs"], change.Added);
        Assert.Equal(["build"], change.Removed);
        Assert.Equal([old], change.Retired);
        Assert.True(await WaitingStopsAtOnce(old.Queue));
        Assert.False(await WaitingStopsAtOnce(registry.FindByName("docs")!.Queue));
    }

    [Fact]
    public async Task A_new_named_tunnel_takes_its_token_and_its_waiting_requests_from_a_token_addressed_tunnel_and_retires_that()
    {
        using var registry = Registry();
        var unlisted = registry.ForRegistration(Token)!;

        var change = registry.Reconfigure(Tunnels(("build", Token, null)));

        Assert.Equal([unlisted], change.Retired);
        var named = registry.FindByName("build")!;
        Assert.Same(named, registry.ForRegistration(Token));
        Assert.Same(unlisted.Queue, named.Queue); // its waiting requests wait for the agent to come back, to the named tunnel
        Assert.False(await WaitingStopsAtOnce(named.Queue));
    }

    /// <summary>Whether a request joining <paramref name="queue"/> is let go at once, without a session (the line was closed).</summary>
    private static async Task<bool> WaitingStopsAtOnce(TunnelWaitQueue queue)
    {
        using var place = queue.TryEnter(int.MaxValue)!;
        var waiting = place.WaitAsync(() => null, default);
        return waiting.IsCompletedSuccessfully && await waiting is null;
    }

    private static TunnelRegistry Registry(params (string Name, string Token, string? Secret)[] tunnels)
    {
        var options = new WStunnelOptions();
        foreach (var (name, tunnel) in Tunnels(tunnels))
        {
            options.Tunnels[name] = tunnel;
        }

        return new TunnelRegistry(Options.Create(options), TimeProvider.System);
    }

    private static Dictionary<string, WStunnelTunnelOptions> Tunnels(params (string Name, string Token, string? Secret)[] tunnels) =>
        tunnels.ToDictionary(t => t.Name, t => new WStunnelTunnelOptions { Token = t.Token, AgentSecret = t.Secret });
}
