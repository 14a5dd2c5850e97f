using WStunnel.Protocol.Frames;

namespace WStunnel.Agent.Dispatch;

/// <summary>
/// Requests the agent never replays against its target, whatever the gateway sends: a tunnel into
/// the private network must not become a CONNECT proxy, reflect requests (TRACE), or address
/// anything but the target's own paths. The frame codec already refuses absolute- and
/// authority-form targets and CR, LF or NUL in names and values.
/// </summary>
internal static class TargetRequestPolicy
{
    /// <summary>Why the request is refused, or null when it may go to the target.</summary>
    public static string? Refusal(RequestHead head)
    {
        if (head.Method.Equals("CONNECT", StringComparison.OrdinalIgnoreCase) || head.Method.Equals("TRACE", StringComparison.OrdinalIgnoreCase))
        {
            return $"method {head.Method.ToUpperInvariant()} is never forwarded to the target";
        }

        return head.PathAndQuery == "*" ? "asterisk-form targets are never forwarded to the target" : null;
    }
}
