using System.Buffers;
using System.Buffers.Binary;

namespace PriorityProbe;

/// <summary>Encodes the few frames the probe sends (RFC 9113 §4.1, §6) into a buffer, so that a batch leaves in one socket write.</summary>
internal static class FrameWriter
{
    public const int HeaderSize = 9;

    public static void WriteSettings(IBufferWriter<byte> output, params ReadOnlySpan<(ushort Id, uint Value)> settings)
    {
        Span<byte> payload = WriteFrameHeader(output, FrameType.Settings, 0, 0, settings.Length * 6);
        foreach ((ushort id, uint value) in settings)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload, id);
            BinaryPrimitives.WriteUInt32BigEndian(payload[2..], value);
            payload = payload[6..];
        }

        output.Advance(HeaderSize + (settings.Length * 6));
    }

    public static void WriteSettingsAck(IBufferWriter<byte> output)
    {
        WriteFrameHeader(output, FrameType.Settings, FrameFlags.Ack, 0, 0);
        output.Advance(HeaderSize);
    }

    public static void WritePingAck(IBufferWriter<byte> output, ReadOnlySpan<byte> opaqueData)
    {
        Span<byte> payload = WriteFrameHeader(output, FrameType.Ping, FrameFlags.Ack, 0, 8);
        opaqueData.CopyTo(payload);
        output.Advance(HeaderSize + 8);
    }

    public static void WriteWindowUpdate(IBufferWriter<byte> output, int streamId, int increment)
    {
        Span<byte> payload = WriteFrameHeader(output, FrameType.WindowUpdate, 0, streamId, 4);
        BinaryPrimitives.WriteInt32BigEndian(payload, increment);
        output.Advance(HeaderSize + 4);
    }

    public static void WriteRstStream(IBufferWriter<byte> output, int streamId, uint errorCode)
    {
        Span<byte> payload = WriteFrameHeader(output, FrameType.RstStream, 0, streamId, 4);
        BinaryPrimitives.WriteUInt32BigEndian(payload, errorCode);
        output.Advance(HeaderSize + 4);
    }

    public static void WriteGoAway(IBufferWriter<byte> output, int lastStreamId, uint errorCode)
    {
        Span<byte> payload = WriteFrameHeader(output, FrameType.GoAway, 0, 0, 8);
        BinaryPrimitives.WriteInt32BigEndian(payload, lastStreamId);
        BinaryPrimitives.WriteUInt32BigEndian(payload[4..], errorCode);
        output.Advance(HeaderSize + 8);
    }

    /// <summary>A request with no body: one HEADERS frame with END_STREAM and END_HEADERS, and the RFC 7540 priority fields when given.</summary>
    public static void WriteHeaders(IBufferWriter<byte> output, int streamId, ReadOnlySpan<byte> headerBlock, StreamDependency? dependency = null)
    {
        byte flags = FrameFlags.EndStream | FrameFlags.EndHeaders;
        int priorityLength = 0;
        if (dependency is not null)
        {
            flags |= FrameFlags.Priority;
            priorityLength = 5;
        }

        Span<byte> payload = WriteFrameHeader(output, FrameType.Headers, flags, streamId, priorityLength + headerBlock.Length);
        if (dependency is { } priority)
        {
            uint parent = (uint)priority.ParentStreamId | (priority.Exclusive ? 0x8000_0000u : 0);
            BinaryPrimitives.WriteUInt32BigEndian(payload, parent);
            payload[4] = (byte)(priority.Weight - 1);
        }

        headerBlock.CopyTo(payload[priorityLength..]);
        output.Advance(HeaderSize + priorityLength + headerBlock.Length);
    }

    /// <summary>Writes the 9-byte frame header and returns the span for the payload; the caller advances past both.</summary>
    private static Span<byte> WriteFrameHeader(IBufferWriter<byte> output, FrameType type, byte flags, int streamId, int payloadLength)
    {
        Span<byte> frame = output.GetSpan(HeaderSize + payloadLength);
        frame[0] = (byte)(payloadLength >> 16);
        frame[1] = (byte)(payloadLength >> 8);
        frame[2] = (byte)payloadLength;
        frame[3] = (byte)type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame[5..], streamId);
        return frame.Slice(HeaderSize, payloadLength);
    }
}
