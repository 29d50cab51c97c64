using System.Buffers;
using System.Buffers.Binary;

namespace H2Middleware.Frames;

/// <summary>
/// Encodes frames into an <see cref="IBufferWriter{T}"/> (the transport's PipeWriter in production). Nothing is
/// allocated; the caller is trusted on lengths (DATA no larger than the peer's max frame size, valid stream ids).
/// </summary>
internal static class Http2FrameWriter
{
    public static void WriteData(IBufferWriter<byte> output, int streamId, ReadOnlySpan<byte> data, bool endStream)
    {
        WriteHeader(output, data.Length, Http2FrameType.Data, endStream ? Http2FrameFlags.EndStream : Http2FrameFlags.None, streamId);
        output.Write(data);
    }

    public static void WriteData(IBufferWriter<byte> output, int streamId, in ReadOnlySequence<byte> data, bool endStream)
    {
        WriteHeader(output, (int)data.Length, Http2FrameType.Data, endStream ? Http2FrameFlags.EndStream : Http2FrameFlags.None, streamId);
        if (data.IsSingleSegment)
        {
            output.Write(data.FirstSpan);
            return;
        }

        foreach (ReadOnlyMemory<byte> segment in data)
        {
            output.Write(segment.Span);
        }
    }

    /// <summary>A header block as HEADERS followed by as many CONTINUATION frames as the peer's max frame size needs (§4.3).</summary>
    public static void WriteHeaders(IBufferWriter<byte> output, int streamId, ReadOnlySpan<byte> headerBlock, bool endStream, int maxFrameSize)
    {
        int first = Math.Min(headerBlock.Length, maxFrameSize);
        Http2FrameFlags flags = endStream ? Http2FrameFlags.EndStream : Http2FrameFlags.None;
        if (first == headerBlock.Length)
        {
            flags |= Http2FrameFlags.EndHeaders;
        }

        WriteHeader(output, first, Http2FrameType.Headers, flags, streamId);
        output.Write(headerBlock[..first]);
        WriteContinuations(output, streamId, headerBlock[first..], maxFrameSize);
    }

    public static void WritePushPromise(IBufferWriter<byte> output, int streamId, int promisedStreamId, ReadOnlySpan<byte> headerBlock, int maxFrameSize)
    {
        int first = Math.Min(headerBlock.Length, maxFrameSize - 4);
        Http2FrameFlags flags = first == headerBlock.Length ? Http2FrameFlags.EndHeaders : Http2FrameFlags.None;
        WriteHeader(output, first + 4, Http2FrameType.PushPromise, flags, streamId);
        WriteUInt32(output, (uint)promisedStreamId & 0x7FFF_FFFF);
        output.Write(headerBlock[..first]);
        WriteContinuations(output, streamId, headerBlock[first..], maxFrameSize);
    }

    private static void WriteContinuations(IBufferWriter<byte> output, int streamId, ReadOnlySpan<byte> rest, int maxFrameSize)
    {
        while (!rest.IsEmpty)
        {
            int length = Math.Min(rest.Length, maxFrameSize);
            WriteHeader(output, length, Http2FrameType.Continuation, length == rest.Length ? Http2FrameFlags.EndHeaders : Http2FrameFlags.None, streamId);
            output.Write(rest[..length]);
            rest = rest[length..];
        }
    }

    public static void WritePriority(IBufferWriter<byte> output, int streamId, int streamDependency, bool exclusive, int weight)
    {
        WriteHeader(output, 5, Http2FrameType.Priority, Http2FrameFlags.None, streamId);
        Span<byte> payload = output.GetSpan(5);
        BinaryPrimitives.WriteUInt32BigEndian(payload, ((uint)streamDependency & 0x7FFF_FFFF) | (exclusive ? 0x8000_0000 : 0));
        payload[4] = (byte)(weight - 1);
        output.Advance(5);
    }

    public static void WriteRstStream(IBufferWriter<byte> output, int streamId, Http2ErrorCode errorCode)
    {
        WriteHeader(output, 4, Http2FrameType.RstStream, Http2FrameFlags.None, streamId);
        WriteUInt32(output, (uint)errorCode);
    }

    public static void WriteSettings(IBufferWriter<byte> output, ReadOnlySpan<Http2Setting> settings)
    {
        int length = settings.Length * 6;
        WriteHeader(output, length, Http2FrameType.Settings, Http2FrameFlags.None, 0);
        Span<byte> payload = output.GetSpan(length);
        for (int i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload[(i * 6)..], (ushort)settings[i].Parameter);
            BinaryPrimitives.WriteUInt32BigEndian(payload[((i * 6) + 2)..], settings[i].Value);
        }

        output.Advance(length);
    }

    public static void WriteSettingsAck(IBufferWriter<byte> output) => WriteHeader(output, 0, Http2FrameType.Settings, Http2FrameFlags.Ack, 0);

    public static void WritePing(IBufferWriter<byte> output, ulong data, bool ack)
    {
        WriteHeader(output, 8, Http2FrameType.Ping, ack ? Http2FrameFlags.Ack : Http2FrameFlags.None, 0);
        Span<byte> payload = output.GetSpan(8);
        BinaryPrimitives.WriteUInt64BigEndian(payload, data);
        output.Advance(8);
    }

    public static void WriteGoAway(IBufferWriter<byte> output, int lastStreamId, Http2ErrorCode errorCode, ReadOnlySpan<byte> debugData)
    {
        WriteHeader(output, 8 + debugData.Length, Http2FrameType.GoAway, Http2FrameFlags.None, 0);
        WriteUInt32(output, (uint)lastStreamId & 0x7FFF_FFFF);
        WriteUInt32(output, (uint)errorCode);
        output.Write(debugData);
    }

    public static void WriteWindowUpdate(IBufferWriter<byte> output, int streamId, int increment)
    {
        WriteHeader(output, 4, Http2FrameType.WindowUpdate, Http2FrameFlags.None, streamId);
        WriteUInt32(output, (uint)increment & 0x7FFF_FFFF);
    }

    public static void WritePriorityUpdate(IBufferWriter<byte> output, int prioritizedStreamId, ReadOnlySpan<byte> priorityFieldValue)
    {
        WriteHeader(output, 4 + priorityFieldValue.Length, Http2FrameType.PriorityUpdate, Http2FrameFlags.None, 0);
        WriteUInt32(output, (uint)prioritizedStreamId & 0x7FFF_FFFF);
        output.Write(priorityFieldValue);
    }

    private static void WriteHeader(IBufferWriter<byte> output, int payloadLength, Http2FrameType type, Http2FrameFlags flags, int streamId)
    {
        new Http2FrameHeader(payloadLength, type, flags, streamId).Write(output.GetSpan(Http2FrameHeader.Size));
        output.Advance(Http2FrameHeader.Size);
    }

    private static void WriteUInt32(IBufferWriter<byte> output, uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(output.GetSpan(4), value);
        output.Advance(4);
    }
}
