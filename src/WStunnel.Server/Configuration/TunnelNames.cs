namespace WStunnel.Server.Configuration;

/// <summary>Tunnel names appear as the host of <c>wstunnel://NAME</c> destinations, so they follow DNS label rules.</summary>
internal static class TunnelNames
{
    public const string Scheme = "wstunnel";

    public static bool IsValid(string name) =>
        name.Length is > 0 and <= 253
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.')
        && name[0] != '.' && name[0] != '-';
}
