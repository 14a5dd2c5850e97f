namespace WStunnel.Protocol.Frames;

/// <summary>Why a stream was reset or a session went away.</summary>
internal enum ErrorCode : uint
{
    NoError = 0,
    ProtocolError = 1,
    InternalError = 2,
    FlowControlError = 3,
    StreamClosed = 4,
    FrameSizeError = 5,
    RefusedStream = 6,
    Cancel = 7,
    HeadersTooLarge = 8,
    UnsupportedVersion = 9,
    KeepAliveTimeout = 10,
    Shutdown = 11,
}
