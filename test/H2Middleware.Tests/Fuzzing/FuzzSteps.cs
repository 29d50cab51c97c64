using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using H2Middleware.Frames;

namespace H2Middleware.Tests.Fuzzing;

/// <summary>One thing the client does. <see cref="Write"/> appends its bytes; <see cref="object.ToString"/> is the step in the dump.</summary>
internal abstract record FuzzStep
{
    public abstract void Write(SessionWriter writer);

    protected static string Join<T>(IEnumerable<T> items) => string.Join(", ", items);
}

internal sealed record PrefaceStep : FuzzStep
{
    public override void Write(SessionWriter writer) => writer.Raw(Http2Limits.ClientPreface, "preface (24 bytes)");

    public override string ToString() => "preface";
}

internal sealed record SettingsStep(Http2Setting[] Settings) : FuzzStep
{
    public override void Write(SessionWriter writer)
    {
        var payload = new byte[Settings.Length * 6];
        for (int i = 0; i < Settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(i * 6), (ushort)Settings[i].Parameter);
            BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan((i * 6) + 2), Settings[i].Value);
        }

        writer.Frame((byte)Http2FrameType.Settings, 0, 0, payload, Join(Settings.Select(s => $"{s.Parameter}={s.Value}")));
    }

    public override string ToString() => $"SETTINGS [{Join(Settings.Select(s => $"{s.Parameter}={s.Value}"))}]";
}

internal sealed record SettingsAckStep : FuzzStep
{
    public override void Write(SessionWriter writer) => writer.Frame((byte)Http2FrameType.Settings, 0x1, 0, []);

    public override string ToString() => "SETTINGS ack";
}

/// <summary>A request header block: HEADERS (optionally padded, with a priority block) and CONTINUATIONs of FragmentSize.</summary>
internal sealed record RequestStep(
    StreamRef Stream,
    string Method,
    string Path,
    Header[] Extra,
    bool EndStream,
    HeaderEncoding Encoding,
    int FragmentSize,
    bool LeaveOpen,
    int PadLength,
    bool PriorityBlock) : FuzzStep
{
    public IEnumerable<Header> Fields()
    {
        if (Method.Length > 0)
        {
            yield return new Header(":method", Method);
        }

        yield return new Header(":scheme", "https");
        yield return new Header(":authority", "localhost");
        if (Path.Length > 0)
        {
            yield return new Header(":path", Path);
        }

        foreach (Header header in Extra)
        {
            yield return header;
        }
    }

    public override void Write(SessionWriter writer)
    {
        uint streamId = writer.Resolve(Stream);
        byte[] block = Encoding == HeaderEncoding.Hpack ? writer.EncodeHeaderBlock(Fields()) : SessionWriter.LiteralHeaderBlock(Fields());
        HeaderFrames.Write(writer, streamId, block, EndStream, FragmentSize, LeaveOpen, PadLength, PriorityBlock, $"{Header.Printable(Method)} {Header.Printable(Path)}");
    }

    public override string ToString() =>
        $"request stream={Stream} {Method} {Path}{(Extra.Length > 0 ? " +[" + Join(Extra) + "]" : string.Empty)} " +
        $"{(EndStream ? "END_STREAM " : string.Empty)}{Encoding}{(FragmentSize > 0 ? $" fragments of {FragmentSize}" : string.Empty)}" +
        $"{(LeaveOpen ? " header block left open" : string.Empty)}{(PadLength >= 0 ? $" pad={PadLength}" : string.Empty)}{(PriorityBlock ? " +priority" : string.Empty)}";
}

/// <summary>A second header block on a stream: request trailers.</summary>
internal sealed record TrailersStep(StreamRef Stream, Header[] Fields, bool EndStream, HeaderEncoding Encoding) : FuzzStep
{
    public override void Write(SessionWriter writer)
    {
        uint streamId = writer.Resolve(Stream);
        byte[] block = Encoding == HeaderEncoding.Hpack ? writer.EncodeHeaderBlock(Fields) : SessionWriter.LiteralHeaderBlock(Fields);
        HeaderFrames.Write(writer, streamId, block, EndStream, 0, false, -1, false, "trailers");
    }

    public override string ToString() => $"trailers stream={Stream} [{Join(Fields)}]{(EndStream ? " END_STREAM" : string.Empty)} {Encoding}";
}

/// <summary>HEADERS carrying an arbitrary (random, truncated or corrupted) HPACK block.</summary>
internal sealed record HeaderBlockStep(StreamRef Stream, byte[] Block, byte Flags, string Origin) : FuzzStep
{
    public override void Write(SessionWriter writer) =>
        writer.Frame((byte)Http2FrameType.Headers, Flags, writer.Resolve(Stream), Block, Origin);

    public override string ToString() =>
        $"HEADERS stream={Stream} flags={SessionWriter.FlagNames((byte)Http2FrameType.Headers, Flags)} hpack={SessionWriter.Hex(Block)} ({Origin})";
}

internal sealed record ContinuationStep(StreamRef Stream, byte[] Fragment, bool EndHeaders) : FuzzStep
{
    public override void Write(SessionWriter writer) =>
        writer.Frame((byte)Http2FrameType.Continuation, EndHeaders ? (byte)0x4 : (byte)0, writer.Resolve(Stream), Fragment);

    public override string ToString() => $"CONTINUATION stream={Stream}{(EndHeaders ? " END_HEADERS" : string.Empty)} fragment={SessionWriter.Hex(Fragment)}";
}

internal sealed record DataStep(StreamRef Stream, int Length, bool EndStream, int PadLength) : FuzzStep
{
    public override void Write(SessionWriter writer)
    {
        uint streamId = writer.Resolve(Stream);
        var data = new byte[Length];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (byte)('a' + (i % 26));
        }

        byte flags = EndStream ? (byte)0x1 : (byte)0;
        if (PadLength < 0)
        {
            writer.Frame((byte)Http2FrameType.Data, flags, streamId, data);
            return;
        }

        byte[] payload = [(byte)PadLength, .. data, .. new byte[PadLength]];
        writer.Frame((byte)Http2FrameType.Data, (byte)(flags | 0x8), streamId, payload, $"{Length} data, pad {PadLength}");
    }

    public override string ToString() => $"DATA stream={Stream} {Length} bytes{(EndStream ? " END_STREAM" : string.Empty)}{(PadLength >= 0 ? $" pad={PadLength}" : string.Empty)}";
}

internal sealed record WindowUpdateStep(StreamRef Stream, uint Increment) : FuzzStep
{
    public override void Write(SessionWriter writer)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, Increment);
        writer.Frame((byte)Http2FrameType.WindowUpdate, 0, writer.Resolve(Stream), payload, $"+{Increment & 0x7FFF_FFFF}");
    }

    public override string ToString() => $"WINDOW_UPDATE stream={Stream} +{Increment}";
}

internal sealed record PingStep(ulong Data, bool Ack) : FuzzStep
{
    public override void Write(SessionWriter writer)
    {
        var payload = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(payload, Data);
        writer.Frame((byte)Http2FrameType.Ping, Ack ? (byte)1 : (byte)0, 0, payload);
    }

    public override string ToString() => $"PING{(Ack ? " ack" : string.Empty)} 0x{Data:x16}";
}

internal sealed record PriorityStep(StreamRef Stream, StreamRef Dependency, bool Exclusive, byte Weight) : FuzzStep
{
    public override void Write(SessionWriter writer)
    {
        uint streamId = writer.Resolve(Stream);
        uint dependency = writer.Resolve(Dependency) & 0x7FFF_FFFF;
        var payload = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(payload, dependency | (Exclusive ? 0x8000_0000 : 0));
        payload[4] = Weight;
        writer.Frame((byte)Http2FrameType.Priority, 0, streamId, payload);
    }

    public override string ToString() => $"PRIORITY stream={Stream} on={Dependency}{(Exclusive ? " exclusive" : string.Empty)} weight={Weight + 1}";
}

internal sealed record PriorityUpdateStep(StreamRef Prioritized, string Value) : FuzzStep
{
    public override void Write(SessionWriter writer)
    {
        uint prioritized = writer.Resolve(Prioritized);
        byte[] value = Encoding.Latin1.GetBytes(Value);
        var payload = new byte[4 + value.Length];
        BinaryPrimitives.WriteUInt32BigEndian(payload, prioritized);
        value.CopyTo(payload, 4);
        writer.Frame((byte)Http2FrameType.PriorityUpdate, 0, 0, payload, $"for {SessionWriter.FormatStreamId(prioritized)}: \"{Header.Printable(Value)}\"");
    }

    public override string ToString() => $"PRIORITY_UPDATE for={Prioritized} \"{Header.Printable(Value)}\"";
}

internal sealed record RstStreamStep(StreamRef Stream, uint ErrorCode) : FuzzStep
{
    public override void Write(SessionWriter writer)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, ErrorCode);
        writer.Frame((byte)Http2FrameType.RstStream, 0, writer.Resolve(Stream), payload, ((Http2ErrorCode)ErrorCode).ToString());
    }

    public override string ToString() => $"RST_STREAM stream={Stream} {(Http2ErrorCode)ErrorCode}";
}

internal sealed record GoAwayStep(int LastStreamId, uint ErrorCode, int DebugLength) : FuzzStep
{
    public override void Write(SessionWriter writer)
    {
        var payload = new byte[8 + DebugLength];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)LastStreamId);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(4), ErrorCode);
        writer.Frame((byte)Http2FrameType.GoAway, 0, 0, payload, $"last={LastStreamId} {(Http2ErrorCode)ErrorCode}");
    }

    public override string ToString() => $"GOAWAY last={LastStreamId} {(Http2ErrorCode)ErrorCode} debug={DebugLength}";
}

/// <summary>Any frame at all; a declared length other than the payload's desynchronises the framing that follows.</summary>
internal sealed record RawFrameStep(byte Type, byte Flags, StreamRef Stream, byte[] Payload, int LengthDelta) : FuzzStep
{
    public override void Write(SessionWriter writer)
    {
        int declared = Math.Clamp(Payload.Length + LengthDelta, 0, Http2Limits.MaxAllowedFrameSize);
        writer.Frame(Type, Flags, writer.Resolve(Stream), Payload, "raw", declared);
    }

    public override string ToString() =>
        $"raw {SessionWriter.TypeName(Type)} flags=0x{Flags:x2} stream={Stream} payload={SessionWriter.Hex(Payload)}{(LengthDelta != 0 ? $" length{LengthDelta:+#;-#}" : string.Empty)}";
}

/// <summary>A padded DATA, HEADERS or PUSH_PROMISE whose pad length does not fit its payload.</summary>
internal sealed record BadPaddingStep(byte Type, StreamRef Stream, int PayloadLength, byte PadLength) : FuzzStep
{
    public override void Write(SessionWriter writer)
    {
        var payload = new byte[PayloadLength];
        if (payload.Length > 0)
        {
            payload[0] = PadLength;
        }

        byte flags = (byte)(0x8 | (Type == (byte)Http2FrameType.Headers ? 0x4 : 0));
        writer.Frame(Type, flags, writer.Resolve(Stream), payload, $"pad length {PadLength} in {PayloadLength}");
    }

    public override string ToString() => $"bad padding {SessionWriter.TypeName(Type)} stream={Stream} pad={PadLength} payload={PayloadLength}";
}

/// <summary>A frame larger than the server's SETTINGS_MAX_FRAME_SIZE (the bytes actually sent may be fewer).</summary>
internal sealed record OversizedStep(byte Type, StreamRef Stream, int DeclaredLength, int CarriedLength) : FuzzStep
{
    public override void Write(SessionWriter writer) =>
        writer.Frame(Type, 0, writer.Resolve(Stream), new byte[CarriedLength], "oversized", DeclaredLength);

    public override string ToString() => $"oversized {SessionWriter.TypeName(Type)} stream={Stream} declared={DeclaredLength} carried={CarriedLength}";
}

internal sealed record GarbageStep(byte[] Bytes) : FuzzStep
{
    public override void Write(SessionWriter writer) => writer.Raw(Bytes, $"garbage {SessionWriter.Hex(Bytes)}");

    public override string ToString() => $"garbage {SessionWriter.Hex(Bytes)}";
}

/// <summary>Cuts the send here and waits, so that handlers and the loop run between the bytes before and after.</summary>
internal sealed record PauseStep(int Milliseconds) : FuzzStep
{
    public override void Write(SessionWriter writer) => writer.Pause(Milliseconds);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"pause {Milliseconds} ms");
}

/// <summary>The host asks the connection to close (graceful shutdown) once the bytes before this point are sent.</summary>
internal sealed record ShutdownStep : FuzzStep
{
    public override void Write(SessionWriter writer) => writer.RequestShutdown();

    public override string ToString() => "host shutdown requested";
}

internal static class HeaderFrames
{
    /// <summary>HEADERS (+ CONTINUATIONs), with optional padding and priority fields; LeaveOpen drops END_HEADERS from the last frame.</summary>
    public static void Write(SessionWriter writer, uint streamId, byte[] block, bool endStream, int fragmentSize, bool leaveOpen, int padLength, bool priorityBlock, string note)
    {
        int first = fragmentSize > 0 ? Math.Min(fragmentSize, block.Length) : block.Length;
        bool single = first == block.Length;
        byte flags = (byte)((endStream ? 0x1 : 0) | (single && !leaveOpen ? 0x4 : 0) | (padLength >= 0 ? 0x8 : 0) | (priorityBlock ? 0x20 : 0));
        var payload = new List<byte>();
        if (padLength >= 0)
        {
            payload.Add((byte)padLength);
        }

        if (priorityBlock)
        {
            // Depends on stream 0, weight 16: valid, and ignored under RFC 9113.
            payload.AddRange([0, 0, 0, 0, 15]);
        }

        payload.AddRange(block.AsSpan(0, first));
        if (padLength > 0)
        {
            payload.AddRange(new byte[padLength]);
        }

        writer.Frame((byte)Http2FrameType.Headers, flags, streamId, payload.ToArray(), note);
        for (int offset = first; offset < block.Length; offset += fragmentSize)
        {
            int length = Math.Min(fragmentSize, block.Length - offset);
            bool last = offset + length == block.Length;
            writer.Frame((byte)Http2FrameType.Continuation, last && !leaveOpen ? (byte)0x4 : (byte)0, streamId, block.AsSpan(offset, length));
        }
    }
}
