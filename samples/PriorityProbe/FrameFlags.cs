namespace PriorityProbe;

/// <summary>The frame flags the probe sets or reads (RFC 9113 §6).</summary>
internal static class FrameFlags
{
    public const byte EndStream = 0x1;
    public const byte Ack = 0x1;
    public const byte EndHeaders = 0x4;
    public const byte Priority = 0x20;
}
