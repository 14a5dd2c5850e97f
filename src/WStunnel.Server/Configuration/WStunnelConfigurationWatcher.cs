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
/// to be admitted by the new rules) or removed — as YARP's routes do, and so do the
/// <see cref="LiveSettings"/>; the other settings apply at the next start, and the log says so rather
/// than letting them look applied. A change the next start would
/// refuse changes nothing and is named at once, so it is found before a restart. The files tunnels
/// keep their tokens and agent secrets in (<c>TokenFile</c>, <c>AgentSecretFile</c>) count as part of
/// the section: they are read again every <see cref="SecretFileCheckInterval"/> and at each reload, so
/// a rotated token or secret applies like an edit of the section.
/// </summary>
internal sealed class WStunnelConfigurationWatcher(
    IServiceProvider services,
    IOptionsFactory<WStunnelOptions> factory,
    TunnelRegistry registry,
    IOptions<WStunnelOptions> running,
    LiveSettings settings,
    TimeProvider time,
    ILogger<WStunnelConfigurationWatcher> logger) : IHostedService, IDisposable
{
    /// <summary>How often the tunnels' token and secret files are read to notice a rotation.</summary>
    internal static readonly TimeSpan SecretFileCheckInterval = TimeSpan.FromMinutes(1);

    private const string TunnelsKey = "Tunnels";
    private readonly Lock _checking = new(); // reloads and the timer check one at a time; the fields below are theirs
    private IConfigurationSection? _section;
    private IDisposable? _subscription;
    private ITimer? _secretFiles;
    private string _seen = "";
    private string _seenConfiguration = "";
    private string _seenSettings = "";
    private Dictionary<string, string> _seenLive = [];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (services.GetService<IConfiguration>() is { } configuration)
        {
            _section = configuration.GetSection(WStunnelOptions.SectionName);
            _seen = Fingerprint(_section, All, withFileContents: true);
            _seenConfiguration = Fingerprint(_section, All);
            _seenSettings = Fingerprint(_section, AtNextStart);
            _seenLive = LiveFingerprints(_section);
            _subscription = ChangeToken.OnChange(_section.GetReloadToken, Check);
            _secretFiles = time.CreateTimer(static watcher => ((WStunnelConfigurationWatcher)watcher!).CheckSecretFiles(), this, SecretFileCheckInterval, SecretFileCheckInterval);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        _subscription?.Dispose();
        _secretFiles?.Dispose();
    }

    /// <summary>After a reload: applies changed tunnels and live settings, and tells whether other settings differ from what the gateway runs with.</summary>
    internal void Check()
    {
        lock (_checking)
        {
            CheckNow();
        }
    }

    /// <summary>
    /// Every <see cref="SecretFileCheckInterval"/>: applies rotated token and secret files — but only while
    /// the configuration reads as it did at the last reload. A file provider that failed to read a broken
    /// save holds no data until the next good one, without announcing it; read now, that would look like
    /// every tunnel removed.
    /// </summary>
    internal void CheckSecretFiles()
    {
        lock (_checking)
        {
            if (Fingerprint(_section!, All) == _seenConfiguration)
            {
                CheckNow();
            }
        }
    }

    private void CheckNow()
    {
        _seenConfiguration = Fingerprint(_section!, All);
        var now = Fingerprint(_section!, All, withFileContents: true);
        if (now == _seen)
        {
            return; // another part of the configuration changed, the same save was reported twice, or no secret file changed
        }

        _seen = now;

        var (options, failures) = Build();
        if (options is null)
        {
            ServerLog.ConfigurationChangedInvalid(logger, string.Join(" ", failures));
            return;
        }

        TunnelsReconfigured change;
        try
        {
            change = registry.Reconfigure(options.Tunnels);
        }
        catch (InvalidOperationException ex)
        {
            // A token or secret file changed again between the check and its use; the next check takes it up.
            _seen = "";
            ServerLog.ConfigurationChangedInvalid(logger, ex.Message);
            return;
        }

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

        var live = LiveFingerprints(_section!);
        if (LiveSettings.Keys.Where(key => live[key] != _seenLive[key]).ToList() is { Count: > 0 } changed)
        {
            _seenLive = live;
            settings.Apply(options);
            ServerLog.LiveSettingsChanged(logger, string.Join(", ", changed.Select(key => WStunnelOptions.SectionName + ":" + key)));
        }

        var atNextStart = Fingerprint(_section!, AtNextStart);
        if (atNextStart != _seenSettings)
        {
            _seenSettings = atNextStart;
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

    /// <summary>
    /// A digest of the keys and values of the section's settings that <paramref name="select"/> picks (by
    /// their name under the section), with the contents of the tunnels' token and secret files if asked
    /// for: changes are noticed without keeping a copy of the secrets.
    /// </summary>
    private static string Fingerprint(IConfigurationSection section, Func<string, bool> select, bool withFileContents = false)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in section.AsEnumerable(makePathsRelative: true).OrderBy(pair => pair.Key, StringComparer.OrdinalIgnoreCase))
        {
            var setting = key.Split(ConfigurationPath.KeyDelimiter)[0];
            if (!select(setting))
            {
                continue;
            }

            text.Append(key).Append('=').Append(value).Append('\n');
            if (withFileContents && setting.Equals(TunnelsKey, StringComparison.OrdinalIgnoreCase) && IsSecretFile(key) && !string.IsNullOrEmpty(value))
            {
                text.Append(" contents=").Append(FileDigest(value)).Append('\n');
            }
        }

        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static bool All(string setting) => true;

    private static Dictionary<string, string> LiveFingerprints(IConfigurationSection section) =>
        LiveSettings.Keys.ToDictionary(key => key, key => Fingerprint(section, setting => setting.Equals(key, StringComparison.OrdinalIgnoreCase)));

    /// <summary>Settings that apply at the next start: neither the tunnels nor <see cref="LiveSettings"/>.</summary>
    private static bool AtNextStart(string setting) =>
        !setting.Equals(TunnelsKey, StringComparison.OrdinalIgnoreCase) && !LiveSettings.Keys.Contains(setting, StringComparer.OrdinalIgnoreCase);

    private static bool IsSecretFile(string key) =>
        ConfigurationPath.GetSectionKey(key) is var name
        && (name.Equals(nameof(WStunnelTunnelOptions.TokenFile), StringComparison.OrdinalIgnoreCase)
            || name.Equals(nameof(WStunnelTunnelOptions.AgentSecretFile), StringComparison.OrdinalIgnoreCase));

    private static string FileDigest(string path)
    {
        try
        {
            return Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "unreadable: " + ex.Message; // validation names the file and the reason when this applies
        }
    }
}
