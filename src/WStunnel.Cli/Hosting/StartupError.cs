namespace WStunnel.Cli.Hosting;

/// <summary>
/// What an exception that stopped start-up says, with the causes beneath it: YARP, for one, reports
/// an invalid proxy configuration as "Unable to load or apply the proxy configuration." and puts each
/// faulty route and cluster in inner exceptions.
/// </summary>
internal static class StartupError
{
    public static string Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var lines = new List<string> { exception.Message };
        AddCauses(exception, lines, depth: 1);
        return string.Join(Environment.NewLine, lines);
    }

    private static void AddCauses(Exception exception, List<string> lines, int depth)
    {
        IEnumerable<Exception> causes = exception is AggregateException aggregate
            ? aggregate.InnerExceptions
            : exception.InnerException is { } inner ? [inner] : [];
        foreach (var cause in causes)
        {
            // An aggregate's own message only repeats its children's.
            if (cause is not AggregateException && !lines.Contains(cause.Message))
            {
                lines.Add(new string(' ', depth * 2) + "- " + cause.Message);
            }

            AddCauses(cause, lines, cause is AggregateException ? depth : depth + 1);
        }
    }
}
