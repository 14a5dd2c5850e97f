namespace WStunnel.Protocol.Frames;

/// <summary>A peer broke the protocol; the session ends with <see cref="Code"/>.</summary>
internal sealed class TunnelProtocolException(ErrorCode code, string message) : Exception(message)
{
    public ErrorCode Code { get; } = code;
}
