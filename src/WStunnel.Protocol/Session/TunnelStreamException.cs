using WStunnel.Protocol.Frames;

namespace WStunnel.Protocol.Session;

/// <summary>A stream ended abnormally: reset by either end, or its session was lost.</summary>
internal sealed class TunnelStreamException(ErrorCode code, string message, Exception? inner = null)
    : IOException(message, inner)
{
    public ErrorCode Code { get; } = code;
}
