using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using WStunnel.Server.Configuration;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Tests.Configuration;

/// <summary>The tunnels' token and secret files are part of the configuration: a rotation applies without an edit of the file that names them.</summary>
public sealed class WStunnelConfigurationWatcherTests : IDisposable
{
    private const string OldToken = "old-tunnel-token-0123456789";
    private const string NewToken = "new-tunnel-token-0123456789";
    private readonly string _directory = Directory.CreateTempSubdirectory("wstunnel-watcher-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_token_file_rewritten_applies_at_the_next_periodic_check()
    {
        await using var app = await StartAsync();
        var (registry, tokenFile, time) = (app.Registry, app.TokenFile, app.Time);
        var before = registry.FindByName("build")!;

        await File.WriteAllTextAsync(tokenFile, NewToken);
        time.Advance(WStunnelConfigurationWatcher.SecretFileCheckInterval - TimeSpan.FromSeconds(1));
        Assert.Same(before, registry.FindByName("build")); // not read again yet

        time.Advance(TimeSpan.FromSeconds(1));
        var after = registry.FindByName("build")!;
        Assert.NotSame(before, after);
        Assert.Same(after, registry.ForRegistration(NewToken));
        Assert.Null(registry.FindByToken(OldToken));
    }

    [Fact]
    public async Task An_emptied_token_file_changes_nothing_until_it_holds_a_token_again()
    {
        await using var app = await StartAsync();
        var (registry, tokenFile, time) = (app.Registry, app.TokenFile, app.Time);
        var before = registry.FindByName("build")!;

        await File.WriteAllTextAsync(tokenFile, ""); // a rotation half done
        time.Advance(WStunnelConfigurationWatcher.SecretFileCheckInterval);
        Assert.Same(before, registry.FindByName("build"));

        await File.WriteAllTextAsync(tokenFile, NewToken);
        time.Advance(WStunnelConfigurationWatcher.SecretFileCheckInterval);
        Assert.Same(registry.FindByName("build"), registry.ForRegistration(NewToken));
    }

    [Fact]
    public async Task The_periodic_check_leaves_a_configuration_that_changed_unannounced_to_its_reload()
    {
        // As a JSON provider that failed to read a broken save: its data is gone, and no reload says so.
        await using var app = await StartAsync();
        var (registry, tokenFile, time) = (app.Registry, app.TokenFile, app.Time);
        var before = registry.FindByName("build")!;

        ((IConfigurationRoot)app.App.Configuration).Providers.OfType<ForgetfulProvider>().Single().Forget();
        await File.WriteAllTextAsync(tokenFile, NewToken);
        time.Advance(WStunnelConfigurationWatcher.SecretFileCheckInterval);

        Assert.Same(before, registry.FindByName("build"));
        Assert.Same(before, registry.FindByToken(OldToken));
    }

    /// <summary>A gateway whose tunnel "build" takes its token from a file, with its configuration watcher started on a fake clock.</summary>
    private async Task<RunningGateway> StartAsync()
    {
        var tokenFile = Path.Combine(_directory, "token");
        await File.WriteAllTextAsync(tokenFile, OldToken);
        var time = new FakeTimeProvider();
        var app = Gateway(tokenFile, time);
        await app.Services.GetServices<IHostedService>().OfType<WStunnelConfigurationWatcher>().Single().StartAsync(default);
        return new RunningGateway(app, app.Services.GetRequiredService<TunnelRegistry>(), tokenFile, time);
    }

    private sealed record RunningGateway(WebApplication App, TunnelRegistry Registry, string TokenFile, FakeTimeProvider Time) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => App.DisposeAsync();
    }

    private static WebApplication Gateway(string tokenFile, TimeProvider time)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        ((IConfigurationBuilder)builder.Configuration).Add(new ForgetfulSource(new()
        {
            ["WStunnel:AllowUnlistedTokens"] = "false",
            ["WStunnel:Tunnels:build:TokenFile"] = tokenFile,
        }));
        builder.Services.AddSingleton(time);
        builder.Services.AddReverseProxy().AddWStunnel();
        return builder.Build();
    }

    /// <summary>Configuration whose data can vanish without a reload, as a file provider's does when it fails to read a save.</summary>
    private sealed class ForgetfulSource(Dictionary<string, string?> data) : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => new ForgetfulProvider(data);
    }

    private sealed class ForgetfulProvider : ConfigurationProvider
    {
        public ForgetfulProvider(Dictionary<string, string?> data) => Data = new Dictionary<string, string?>(data, StringComparer.OrdinalIgnoreCase);

        public void Forget() => Data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
    }
}
