using System.Buffers;
using System.Buffers.Binary;

namespace H2Middleware.Frames;

/// <summary>
/// Parses frames one at a time from a (possibly multi-segment) buffer without copying payloads, and enforces every
/// rule of RFC 9113 §4 and §6 (and RFC 9218 §7.1) that needs no connection state, each with the RFC's error code
/// and its connection-or-stream scope.
/// </summary>
internal static class Http2FrameReader
{
    private const uint ReservedBitMask = 0x7FFF_FFFF;

    public static Http2FrameReadStatus TryReadFrame(ref ReadOnlySequence<byte> buffer, int maxFrameSize, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        error = default;
        if (buffer.Length < Http2FrameHeader.Size)
        {
            return Http2FrameReadStatus.NeedMoreData;
        }

        Http2FrameHeader header = ReadHeader(buffer);
        if (header.PayloadLength > maxFrameSize)
        {
            // §4.2: we make every oversized frame a connection error, which the RFC allows for all types.
            return Fail(out error, Http2ErrorCode.FrameSizeError, 0, "frame larger than SETTINGS_MAX_FRAME_SIZE");
        }

        long frameLength = Http2FrameHeader.Size + header.PayloadLength;
        if (buffer.Length < frameLength)
        {
            return NeedMoreData(out error);
        }

        ReadOnlySequence<byte> payload = buffer.Slice(Http2FrameHeader.Size, header.PayloadLength);
        Http2FrameReadStatus status = Parse(header, payload, out frame, out error);
        if (status != Http2FrameReadStatus.ConnectionError)
        {
            buffer = buffer.Slice(frameLength);
        }

        if (status == Http2FrameReadStatus.StreamError)
        {
            frame = Http2Frame.Plain(header, default);
        }

        return status;
    }

    private static Http2FrameHeader ReadHeader(in ReadOnlySequence<byte> buffer)
    {
        ReadOnlySpan<byte> first = buffer.FirstSpan;
        if (first.Length >= Http2FrameHeader.Size)
        {
            return Http2FrameHeader.Read(first);
        }

        Span<byte> header = stackalloc byte[Http2FrameHeader.Size];
        buffer.Slice(0, Http2FrameHeader.Size).CopyTo(header);
        return Http2FrameHeader.Read(header);
    }

    private static Http2FrameReadStatus Parse(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        return header.Type switch
        {
            Http2FrameType.Data => ParseData(header, payload, out frame, out error),
            Http2FrameType.Headers => ParseHeaders(header, payload, out frame, out error),
            Http2FrameType.Priority => ParsePriority(header, payload, out frame, out error),
            Http2FrameType.RstStream => ParseRstStream(header, payload, out frame, out error),
            Http2FrameType.Settings => ParseSettings(header, payload, out frame, out error),
            Http2FrameType.PushPromise => ParsePushPromise(header, payload, out frame, out error),
            Http2FrameType.Ping => ParsePing(header, payload, out frame, out error),
            Http2FrameType.GoAway => ParseGoAway(header, payload, out frame, out error),
            Http2FrameType.WindowUpdate => ParseWindowUpdate(header, payload, out frame, out error),
            Http2FrameType.Continuation => ParseContinuation(header, payload, out frame, out error),
            Http2FrameType.PriorityUpdate => ParsePriorityUpdate(header, payload, out frame, out error),
            _ => Accept(out frame, Http2Frame.Plain(header, payload), out error),
        };
    }

    private static Http2FrameReadStatus ParseData(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        if (header.StreamId == 0)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, 0, "DATA on stream 0");
        }

        if (!TryRemovePadding(header, ref payload, 0, out error))
        {
            return Http2FrameReadStatus.ConnectionError;
        }

        return Accept(out frame, Http2Frame.Data(header, payload), out error);
    }

    private static Http2FrameReadStatus ParseHeaders(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        if (header.StreamId == 0)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, 0, "HEADERS on stream 0");
        }

        bool hasPriority = header.HasFlag(Http2FrameFlags.Priority);
        if (!TryRemovePadding(header, ref payload, hasPriority ? 5 : 0, out error))
        {
            return Http2FrameReadStatus.ConnectionError;
        }

        if (!hasPriority)
        {
            return Accept(out frame, Http2Frame.WithPriority(header, payload, false, 0, false, 0), out error);
        }

        // A self-dependency is left to the serve loop: the header block must still be decoded to keep HPACK in step.
        ReadPriorityFields(payload, out int dependency, out bool exclusive, out int weight);
        return Accept(out frame, Http2Frame.WithPriority(header, payload.Slice(5), true, dependency, exclusive, weight), out error);
    }

    private static Http2FrameReadStatus ParsePriority(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        if (header.StreamId == 0)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, 0, "PRIORITY on stream 0");
        }

        if (header.PayloadLength != 5)
        {
            // §6.3: a PRIORITY frame of the wrong length is a stream error.
            return Fail(out error, Http2ErrorCode.FrameSizeError, header.StreamId, "PRIORITY length is not 5");
        }

        ReadPriorityFields(payload, out int dependency, out bool exclusive, out int weight);
        if (dependency == header.StreamId)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, header.StreamId, "stream depends on itself");
        }

        return Accept(out frame, Http2Frame.WithPriority(header, default, true, dependency, exclusive, weight), out error);
    }

    private static Http2FrameReadStatus ParseRstStream(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        if (header.StreamId == 0)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, 0, "RST_STREAM on stream 0");
        }

        if (header.PayloadLength != 4)
        {
            return Fail(out error, Http2ErrorCode.FrameSizeError, 0, "RST_STREAM length is not 4");
        }

        var code = (Http2ErrorCode)ReadUInt32(payload);
        return Accept(out frame, Http2Frame.WithErrorCode(header, 0, code, default), out error);
    }

    private static Http2FrameReadStatus ParseSettings(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        if (header.StreamId != 0)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, 0, "SETTINGS on a stream");
        }

        if (header.HasFlag(Http2FrameFlags.Ack))
        {
            if (header.PayloadLength != 0)
            {
                return Fail(out error, Http2ErrorCode.FrameSizeError, 0, "SETTINGS ACK with a payload");
            }

            return Accept(out frame, Http2Frame.Plain(header, payload), out error);
        }

        if (header.PayloadLength % 6 != 0)
        {
            return Fail(out error, Http2ErrorCode.FrameSizeError, 0, "SETTINGS length is not a multiple of 6");
        }

        foreach (Http2Setting setting in new Http2SettingsEnumerator(payload))
        {
            string? problem = setting.Parameter switch
            {
                Http2SettingsParameter.EnablePush when setting.Value > 1 => "SETTINGS_ENABLE_PUSH above 1",
                Http2SettingsParameter.InitialWindowSize when setting.Value > Http2Limits.MaxWindowSize => "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                Http2SettingsParameter.MaxFrameSize when setting.Value is < Http2Limits.DefaultMaxFrameSize or > Http2Limits.MaxAllowedFrameSize => "SETTINGS_MAX_FRAME_SIZE out of range",
                Http2SettingsParameter.EnableConnectProtocol when setting.Value > 1 => "SETTINGS_ENABLE_CONNECT_PROTOCOL above 1",
                Http2SettingsParameter.NoRfc7540Priorities when setting.Value > 1 => "SETTINGS_NO_RFC7540_PRIORITIES above 1",
                _ => null,
            };
            if (problem is not null)
            {
                // §6.5.2: a too-large initial window is a FLOW_CONTROL_ERROR, every other bad value a PROTOCOL_ERROR.
                Http2ErrorCode code = setting.Parameter == Http2SettingsParameter.InitialWindowSize ? Http2ErrorCode.FlowControlError : Http2ErrorCode.ProtocolError;
                return Fail(out error, code, 0, problem);
            }
        }

        return Accept(out frame, Http2Frame.Plain(header, payload), out error);
    }

    private static Http2FrameReadStatus ParsePushPromise(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        if (header.StreamId == 0)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, 0, "PUSH_PROMISE on stream 0");
        }

        if (!TryRemovePadding(header, ref payload, 4, out error))
        {
            return Http2FrameReadStatus.ConnectionError;
        }

        int promised = (int)(ReadUInt32(payload) & ReservedBitMask);
        return Accept(out frame, Http2Frame.WithStreamId(header, promised, payload.Slice(4)), out error);
    }

    private static Http2FrameReadStatus ParsePing(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        if (header.StreamId != 0)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, 0, "PING on a stream");
        }

        if (header.PayloadLength != 8)
        {
            return Fail(out error, Http2ErrorCode.FrameSizeError, 0, "PING length is not 8");
        }

        Span<byte> data = stackalloc byte[8];
        payload.CopyTo(data);
        return Accept(out frame, Http2Frame.Ping(header, BinaryPrimitives.ReadUInt64BigEndian(data)), out error);
    }

    private static Http2FrameReadStatus ParseGoAway(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        if (header.StreamId != 0)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, 0, "GOAWAY on a stream");
        }

        if (header.PayloadLength < 8)
        {
            return Fail(out error, Http2ErrorCode.FrameSizeError, 0, "GOAWAY shorter than 8 octets");
        }

        int lastStreamId = (int)(ReadUInt32(payload) & ReservedBitMask);
        var code = (Http2ErrorCode)ReadUInt32(payload.Slice(4));
        return Accept(out frame, Http2Frame.WithErrorCode(header, lastStreamId, code, payload.Slice(8)), out error);
    }

    private static Http2FrameReadStatus ParseWindowUpdate(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        if (header.PayloadLength != 4)
        {
            return Fail(out error, Http2ErrorCode.FrameSizeError, 0, "WINDOW_UPDATE length is not 4");
        }

        int increment = (int)(ReadUInt32(payload) & ReservedBitMask);
        if (increment == 0)
        {
            // §6.9: on a stream this is a stream error; on the connection, a connection error.
            return Fail(out error, Http2ErrorCode.ProtocolError, header.StreamId, "WINDOW_UPDATE increment of 0");
        }

        return Accept(out frame, Http2Frame.WithStreamId(header, increment, default), out error);
    }

    private static Http2FrameReadStatus ParseContinuation(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        if (header.StreamId == 0)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, 0, "CONTINUATION on stream 0");
        }

        return Accept(out frame, Http2Frame.Plain(header, payload), out error);
    }

    private static Http2FrameReadStatus ParsePriorityUpdate(Http2FrameHeader header, ReadOnlySequence<byte> payload, out Http2Frame frame, out Http2FrameError error)
    {
        frame = default;
        if (header.StreamId != 0)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, 0, "PRIORITY_UPDATE on a stream");
        }

        if (header.PayloadLength < 4)
        {
            return Fail(out error, Http2ErrorCode.FrameSizeError, 0, "PRIORITY_UPDATE shorter than 4 octets");
        }

        int prioritized = (int)(ReadUInt32(payload) & ReservedBitMask);
        if (prioritized == 0)
        {
            return Fail(out error, Http2ErrorCode.ProtocolError, 0, "PRIORITY_UPDATE for stream 0");
        }

        return Accept(out frame, Http2Frame.WithStreamId(header, prioritized, payload.Slice(4)), out error);
    }

    /// <summary>
    /// Strips the pad length octet and the padding (§6.1, §6.2, §6.6). <paramref name="fixedFields"/> octets after the
    /// pad length must also fit. Padding as long as the rest of the payload or longer is a connection PROTOCOL_ERROR.
    /// </summary>
    private static bool TryRemovePadding(Http2FrameHeader header, ref ReadOnlySequence<byte> payload, int fixedFields, out Http2FrameError error)
    {
        error = default;
        if (!header.HasFlag(Http2FrameFlags.Padded))
        {
            if (payload.Length < fixedFields)
            {
                error = new Http2FrameError(Http2ErrorCode.FrameSizeError, 0, "frame too short for its fields");
                return false;
            }

            return true;
        }

        if (payload.Length < 1 + fixedFields)
        {
            error = new Http2FrameError(Http2ErrorCode.FrameSizeError, 0, "padded frame too short for its fields");
            return false;
        }

        int padLength = payload.FirstSpan[0];
        if (padLength >= payload.Length - fixedFields)
        {
            error = new Http2FrameError(Http2ErrorCode.ProtocolError, 0, "padding as long as the payload");
            return false;
        }

        payload = payload.Slice(1, payload.Length - 1 - padLength);
        return true;
    }

    private static void ReadPriorityFields(in ReadOnlySequence<byte> payload, out int dependency, out bool exclusive, out int weight)
    {
        Span<byte> fields = stackalloc byte[5];
        payload.Slice(0, 5).CopyTo(fields);
        uint raw = BinaryPrimitives.ReadUInt32BigEndian(fields);
        exclusive = (raw & 0x8000_0000) != 0;
        dependency = (int)(raw & ReservedBitMask);
        weight = fields[4] + 1;
    }

    private static uint ReadUInt32(in ReadOnlySequence<byte> payload)
    {
        ReadOnlySpan<byte> first = payload.FirstSpan;
        if (first.Length >= 4)
        {
            return BinaryPrimitives.ReadUInt32BigEndian(first);
        }

        Span<byte> bytes = stackalloc byte[4];
        payload.Slice(0, 4).CopyTo(bytes);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    private static Http2FrameReadStatus Accept(out Http2Frame frame, Http2Frame parsed, out Http2FrameError error)
    {
        frame = parsed;
        error = default;
        return Http2FrameReadStatus.Frame;
    }

    private static Http2FrameReadStatus NeedMoreData(out Http2FrameError error)
    {
        error = default;
        return Http2FrameReadStatus.NeedMoreData;
    }

    private static Http2FrameReadStatus Fail(out Http2FrameError error, Http2ErrorCode code, int streamId, string reason)
    {
        error = new Http2FrameError(code, streamId, reason);
        return streamId == 0 ? Http2FrameReadStatus.ConnectionError : Http2FrameReadStatus.StreamError;
    }
}
