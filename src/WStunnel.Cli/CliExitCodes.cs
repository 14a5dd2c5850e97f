namespace WStunnel.Cli;

/// <summary>Exit codes operators and service managers can act on.</summary>
internal static class CliExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int ConfigurationError = 2;
}
