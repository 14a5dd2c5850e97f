using System.CommandLine;

namespace WStunnel.Cli.Hosting;

/// <summary>Options every long-running command has.</summary>
internal static class CommonOptions
{
    public static Option<LogFormat> LogFormat() => new("--log-format")
    {
        Description = "text (default) or json: one JSON object per log message, for log shippers.",
        DefaultValueFactory = _ => Hosting.LogFormat.Text,
    };
}
