using System.Buffers.Binary;

namespace H2Middleware.Frames;

/// <summary>The 9-octet frame header of RFC 9113 §4.1.</summary>
internal readonly struct Http2FrameHeader
{
    public const int Size = 9;

    private const uint StreamIdMask = 0x7FFF_FFFF;

    public Http2FrameHeader(int payloadLength, Http2FrameType type, Http2FrameFlags flags, int streamId)
    {
        PayloadLength = payloadLength;
        Type = type;
        Flags = flags;
        StreamId = streamId;
    }

    public int PayloadLength { get; }

    public Http2FrameType Type { get; }

    public Http2FrameFlags Flags { get; }

    /// <summary>The stream identifier with the reserved bit cleared (§4.1: it MUST be ignored on receipt).</summary>
    public int StreamId { get; }

    public bool HasFlag(Http2FrameFlags flag) => (Flags & flag) == flag;

    public static Http2FrameHeader Read(ReadOnlySpan<byte> source)
    {
        int length = (source[0] << 16) | (source[1] << 8) | source[2];
        int streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(source[5..]) & StreamIdMask);
        return new Http2FrameHeader(length, (Http2FrameType)source[3], (Http2FrameFlags)source[4], streamId);
    }

    public void Write(Span<byte> destination)
    {
        destination[0] = (byte)(PayloadLength >> 16);
        destination[1] = (byte)(PayloadLength >> 8);
        destination[2] = (byte)PayloadLength;
        destination[3] = (byte)Type;
        destination[4] = (byte)Flags;
        BinaryPrimitives.WriteUInt32BigEndian(destination[5..], (uint)StreamId & StreamIdMask);
    }
}
