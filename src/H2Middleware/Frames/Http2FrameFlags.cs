namespace H2Middleware.Frames;

/// <summary>Frame flags of RFC 9113 §6. The same bit means different things on different frame types.</summary>
[Flags]
internal enum Http2FrameFlags : byte
{
    None = 0x0,
    EndStream = 0x1,
    Ack = 0x1,
    EndHeaders = 0x4,
    Padded = 0x8,
    Priority = 0x20,
}
