using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using WStunnel.Server.Diagnostics;

namespace WStunnel.Server.Configuration;

/// <summary>
/// The <c>WStunnel</c> section applies for the process's life: tunnels, tokens and limits are taken
/// once at start, while YARP's own routes reload at once. When a reloadable source (a JSON file with
/// <c>reloadOnChange</c>) changes the section, this says so in the log rather than letting the change
/// look applied — and says what would stop the next start, so it is found before a restart.
/// </summary>
internal sealed class WStunnelConfigurationWatcher(
    IServiceProvider services,
    IOptionsFactory<WStunnelOptions> factory,
    ILogger<WStunnelConfigurationWatcher> logger) : IHostedService, IDisposable
{
    private IConfigurationSection? _section;
    private IDisposable? _subscription;
    private string _seen = "";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (services.GetService<IConfiguration>() is { } configuration)
        {
            _section = configuration.GetSection(WStunnelOptions.SectionName);
            _seen = Fingerprint(_section);
            _subscription = ChangeToken.OnChange(_section.GetReloadToken, Check);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _subscription?.Dispose();

    /// <summary>After a reload: tells whether the section differs from what the gateway runs with, and whether it would start.</summary>
    internal void Check()
    {
        var now = Fingerprint(_section!);
        if (now == Interlocked.Exchange(ref _seen, now))
        {
            return; // another part of the configuration changed, or the same save was reported twice
        }

        var failures = Validate();
        if (failures.Count == 0)
        {
            ServerLog.ConfigurationChanged(logger);
        }
        else
        {
            ServerLog.ConfigurationChangedInvalid(logger, string.Join(" ", failures));
        }
    }

    /// <summary>The options the next start would build — bound, configured by code and validated as at start-up — or why it would not.</summary>
    private List<string> Validate()
    {
        try
        {
            factory.Create(Options.DefaultName);
            return [];
        }
        catch (OptionsValidationException ex)
        {
            return [.. ex.Failures];
        }
#pragma warning disable CA1031 // A callback on the configuration's reload thread: whatever goes wrong is reported, never thrown there.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return [ex.Message]; // a value the binder cannot convert, a file a validator cannot read
        }
    }

    /// <summary>A digest of the section's keys and values: changes are noticed without keeping a copy of its secrets.</summary>
    private static string Fingerprint(IConfigurationSection section)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in section.AsEnumerable().OrderBy(pair => pair.Key, StringComparer.OrdinalIgnoreCase))
        {
            text.Append(key).Append('=').Append(value).Append('\n');
        }

        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}
