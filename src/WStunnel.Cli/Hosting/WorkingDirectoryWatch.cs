using Microsoft.Extensions.Configuration;

namespace WStunnel.Cli.Hosting;

/// <summary>
/// Keeps .NET's hosts from watching the working directory. Their default configuration reads
/// <c>appsettings.json</c> from it with reload on change, and .NET's file provider watches a directory
/// with every directory beneath it, one inotify watch each, all added before the host is built. The
/// commands replace those sources with their own, but the watch would stay: under systemd the working
/// directory is <c>/</c> — ≈ 50,000 watches, five seconds more to start, and a wake-up for every file
/// written anywhere on the machine.
/// </summary>
internal static class WorkingDirectoryWatch
{
    private const string ReloadOnChange = "hostBuilder:reloadConfigOnChange";

    /// <summary>The host's command line for ASP.NET Core's builders, which read the setting from it.</summary>
    public static string[] Off(string[] args) => [.. args, $"--{ReloadOnChange}=false"];

    /// <summary>The starting configuration for the generic host's builder, which reads the setting from it.</summary>
    public static ConfigurationManager Off()
    {
        var configuration = new ConfigurationManager();
        configuration.AddInMemoryCollection([new(ReloadOnChange, "false")]);
        return configuration;
    }
}
