using H2Middleware.Frames;

namespace H2Middleware.Output;

internal enum ControlFrameKind : byte
{
    SettingsAck,
    Ping,
    PingAck,
    RstStream,
    WindowUpdate,
    GoAway,
}

/// <summary>A frame the serve loop owes the peer; written ahead of all stream data.</summary>
internal readonly record struct ControlFrame(ControlFrameKind Kind, int StreamId = 0, long Value = 0, ulong PingData = 0)
{
    public Http2ErrorCode ErrorCode => (Http2ErrorCode)Value;
}
