namespace PriorityProbe;

/// <summary>The HTTP/2 frame types the probe sends or reacts to (RFC 9113 §6).</summary>
internal enum FrameType : byte
{
    Data = 0x0,
    Headers = 0x1,
    RstStream = 0x3,
    Settings = 0x4,
    Ping = 0x6,
    GoAway = 0x7,
    WindowUpdate = 0x8,
}
