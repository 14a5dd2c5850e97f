using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;

namespace WStunnel.Cli.Hosting;

/// <summary>
/// Start-up validation failures as operators need them: each names the setting (the validators do),
/// and here also where its value came from — which file, the environment or the command line.
/// </summary>
internal static class ConfigurationErrors
{
    public static string Describe(IEnumerable<string> failures, IConfiguration? configuration)
    {
        var lines = failures.Select(failure => configuration is IConfigurationRoot root && SourceOf(root, failure) is { } source ? $"{failure} (set in {source})" : failure);
        return "Configuration error:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", lines);
    }

    /// <summary>The provider that supplied the setting a failure message starts with, if any did.</summary>
    private static string? SourceOf(IConfigurationRoot root, string failure)
    {
        var key = failure.Split(' ', 2)[0].TrimEnd(':', ',', '.');
        if (!key.Contains(':', StringComparison.Ordinal))
        {
            return null;
        }

        foreach (var provider in root.Providers.Reverse())
        {
            if (provider.TryGet(key, out _) || provider.GetChildKeys([], key).Any())
            {
                return Describe(provider);
            }
        }

        return null;
    }

    private static string Describe(IConfigurationProvider provider) => provider switch
    {
        JsonConfigurationProvider json => $"the file {json.Source.FileProvider?.GetFileInfo(json.Source.Path ?? "").PhysicalPath ?? json.Source.Path}",
        EnvironmentVariablesConfigurationProvider => "an environment variable (WSTUNNEL__…)",
        CommandLineConfigurationProvider => "the command line",
        _ => provider.GetType().Name,
    };
}
