namespace WStunnel.Cli.Hosting;

/// <summary>
/// Runs the agent's socket completions on the socket engine's own threads instead of handing each to
/// the thread pool (the runtime's <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>). An agent carries
/// one tunnel and its calls to its target, and none of its code blocks, so the hand-offs it spares
/// shorten every request (bench/README: inline socket completions). The gateway leaves the variable
/// to its operator: there it also shortens requests, but slowed a thousand agents connecting at
/// once and let reconnecting agents raise other tunnels' p99 a little more. An operator's own setting
/// of the variable, 0 included, wins.
/// </summary>
internal static class SocketCompletions
{
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Before the process's first socket: the runtime reads the variable once.</summary>
    public static void RunInlineUnlessSet()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null)
        {
            Environment.SetEnvironmentVariable(Variable, "1");
        }
    }
}
