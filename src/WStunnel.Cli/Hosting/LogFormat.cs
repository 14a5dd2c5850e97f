namespace WStunnel.Cli.Hosting;

/// <summary>How the gateway and the agent write their logs to standard output.</summary>
internal enum LogFormat
{
    /// <summary>One line per message, for people.</summary>
    Text,

    /// <summary>One JSON object per message (event id, category, level, message, state), for log shippers.</summary>
    Json,
}
