using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using WStunnel.Server.Diagnostics;
using WStunnel.Server.Registry;

namespace WStunnel.Server.Configuration;

/// <summary>
/// Follows the <c>WStunnel</c> section when a reloadable source (a JSON file with <c>reloadOnChange</c>)
/// changes it: the named tunnels apply at once — added, changed (their agents are asked to come back,
/// to be admitted by the new rules) or removed — as YARP's routes do; the other settings apply at the
/// next start, and the log says so rather than letting them look applied. A change the next start would
/// refuse changes nothing and is named at once, so it is found before a restart.
/// </summary>
internal sealed class WStunnelConfigurationWatcher(
    IServiceProvider services,
    IOptionsFactory<WStunnelOptions> factory,
    TunnelRegistry registry,
    IOptions<WStunnelOptions> running,
    ILogger<WStunnelConfigurationWatcher> logger) : IHostedService, IDisposable
{
    private const string TunnelsKey = "Tunnels";
    private IConfigurationSection? _section;
    private IDisposable? _subscription;
    private string _seen = "";
    private string _seenSettings = "";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (services.GetService<IConfiguration>() is { } configuration)
        {
            _section = configuration.GetSection(WStunnelOptions.SectionName);
            _seen = Fingerprint(_section, withTunnels: true);
            _seenSettings = Fingerprint(_section, withTunnels: false);
            _subscription = ChangeToken.OnChange(_section.GetReloadToken, Check);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _subscription?.Dispose();

    /// <summary>After a reload: applies changed tunnels, and tells whether other settings differ from what the gateway runs with.</summary>
    internal void Check()
    {
        var now = Fingerprint(_section!, withTunnels: true);
        if (now == Interlocked.Exchange(ref _seen, now))
        {
            return; // another part of the configuration changed, or the same save was reported twice
        }

        var (options, failures) = Build();
        if (options is null)
        {
            ServerLog.ConfigurationChangedInvalid(logger, string.Join(" ", failures));
            return;
        }

        var change = registry.Reconfigure(options.Tunnels);
        foreach (var name in change.Added)
        {
            ServerLog.TunnelAdded(logger, name);
        }

        foreach (var name in change.Changed)
        {
            ServerLog.TunnelChanged(logger, name);
        }

        foreach (var name in change.Removed)
        {
            ServerLog.TunnelRemoved(logger, name);
        }

        var grace = running.Value.ShutdownGracePeriod;
        foreach (var session in change.Retired.SelectMany(entry => entry.Sessions))
        {
            _ = session.CloseAsync(grace); // go-away: requests in flight finish, the agent comes back under the new rules
        }

        var settings = Fingerprint(_section!, withTunnels: false);
        if (settings != Interlocked.Exchange(ref _seenSettings, settings))
        {
            ServerLog.ConfigurationChanged(logger);
        }
    }

    /// <summary>The options the next start would build — bound, configured by code and validated as at start-up — or why it would not.</summary>
    private (WStunnelOptions? Options, List<string> Failures) Build()
    {
        try
        {
            return (factory.Create(Options.DefaultName), []);
        }
        catch (OptionsValidationException ex)
        {
            return (null, [.. ex.Failures]);
        }
#pragma warning disable CA1031 // A callback on the configuration's reload thread: whatever goes wrong is reported, never thrown there.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return (null, [ex.Message]); // a value the binder cannot convert, a file a validator cannot read
        }
    }

    /// <summary>A digest of the section's keys and values (with or without its tunnels): changes are noticed without keeping a copy of its secrets.</summary>
    private static string Fingerprint(IConfigurationSection section, bool withTunnels)
    {
        var tunnels = ConfigurationPath.Combine(section.Path, TunnelsKey);
        var text = new StringBuilder();
        foreach (var (key, value) in section.AsEnumerable().OrderBy(pair => pair.Key, StringComparer.OrdinalIgnoreCase))
        {
            if (!withTunnels && key.StartsWith(tunnels, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            text.Append(key).Append('=').Append(value).Append('\n');
        }

        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}
