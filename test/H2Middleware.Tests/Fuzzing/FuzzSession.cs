using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Hpack;

namespace H2Middleware.Tests.Fuzzing;

/// <summary>
/// One generated client session: the server's options, a valid prefix, a corrupting tail, byte-level mutations of the
/// encoded stream and how the bytes are cut into writes. Everything is data, so that the session prints, shrinks and
/// re-encodes to exactly the same bytes.
/// </summary>
internal sealed record FuzzSession(ServerConfig Config, FuzzStep[] Prefix, FuzzStep[] Tail, ByteMutation[] Mutations, SendMode Send, int ChunkSeed, EndMode End = EndMode.Probe)
{
    public IEnumerable<FuzzStep> Steps => Prefix.Concat(Tail);

    public EncodedSession Encode()
    {
        var writer = new SessionWriter(Config);
        foreach (FuzzStep step in Steps)
        {
            writer.BeginStep(step);
            step.Write(writer);
        }

        return writer.Finish(Mutations, Send, ChunkSeed);
    }

    /// <summary>The readable dump a failure prints: options, steps, then every frame as it went on the wire.</summary>
    public string Describe()
    {
        EncodedSession encoded = Encode();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"server: {Config}");
        text.AppendLine(CultureInfo.InvariantCulture, $"send: {Send} (chunk seed {ChunkSeed}), {encoded.Bytes.Length} bytes in {encoded.Chunks.Count} writes, then {End}");
        text.AppendLine("steps:");
        int index = 0;
        foreach (FuzzStep step in Prefix)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {index++,3} {step}");
        }

        text.AppendLine("  --- corruption ---");
        foreach (FuzzStep step in Tail)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {index++,3} {step}");
        }

        text.AppendLine("frames on the wire (before byte mutations):");
        foreach (SentFrame frame in encoded.Frames)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  #{frame.Index,-3} @{frame.Offset,-6} {frame.Description}");
        }

        if (encoded.AppliedMutations.Count > 0)
        {
            text.AppendLine("byte mutations:");
            foreach (string mutation in encoded.AppliedMutations)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {mutation}");
            }
        }

        return text.ToString();
    }

    public override string ToString() => Describe();
}

/// <summary>The server's options for one session: small limits make more of the engine's edges reachable.</summary>
internal sealed record ServerConfig(
    int MaxStreams,
    int InitialStreamWindow,
    int InitialConnectionWindow,
    int HeaderTableSize,
    int MaxRequestHeaderListSize,
    int MaxResponseBufferPerStream,
    long? MaxRequestBodySize,
    int MaxFrameSize,
    bool ShortTimers = false,
    int ClientReceiveBuffer = 0)
{
    public static ServerConfig Default { get; } = new(100, 768 * 1024, 1024 * 1024, 4096, 32_768, 64 * 1024, 30_000_000, 16_384);

    public void Apply(Http2ServeLoopOptions options)
    {
        options.MaxStreamsPerConnection = MaxStreams;
        options.InitialStreamWindowSize = InitialStreamWindow;
        options.InitialConnectionWindowSize = InitialConnectionWindow;
        options.HeaderTableSize = HeaderTableSize;
        options.MaxRequestHeaderListSize = MaxRequestHeaderListSize;
        options.MaxResponseBufferSizePerStream = MaxResponseBufferPerStream;
        options.MaxRequestBodySize = MaxRequestBodySize;
        options.MaxFrameSize = MaxFrameSize;
        if (ShortTimers)
        {
            // The real clock with timeouts short enough to fire while the session is still running.
            options.PrefaceTimeout = TimeSpan.FromMilliseconds(150);
            options.SettingsAckTimeout = TimeSpan.FromMilliseconds(150);
            options.KeepAliveTimeout = TimeSpan.FromMilliseconds(200);
            options.ShutdownTimeout = TimeSpan.FromMilliseconds(200);
        }
        else
        {
            // A clock that never moves: no timer fires, so what happens depends on the bytes alone.
            options.TimeProvider = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        }
    }

    public override string ToString() =>
        $"maxStreams={MaxStreams} streamWindow={InitialStreamWindow} connWindow={InitialConnectionWindow} headerTable={HeaderTableSize} " +
        $"maxHeaderList={MaxRequestHeaderListSize} responseBuffer={MaxResponseBufferPerStream} maxBody={MaxRequestBodySize?.ToString(CultureInfo.InvariantCulture) ?? "unlimited"} maxFrame={MaxFrameSize}{(ShortTimers ? " shortTimers" : string.Empty)}" +
        (ClientReceiveBuffer > 0 ? $" clientReceiveBuffer={ClientReceiveBuffer}" : string.Empty);
}

/// <summary>How the client ends the session once its bytes are sent.</summary>
internal enum EndMode
{
    /// <summary>Send a PING: the server must answer it or close the connection.</summary>
    Probe,

    /// <summary>Close the sending side (a TCP FIN): the server must close the connection.</summary>
    CloseSending,
}

/// <summary>How the session's bytes are cut into transport writes.</summary>
internal enum SendMode
{
    /// <summary>One write (split only where a pause step is).</summary>
    Whole,

    /// <summary>One write per step.</summary>
    PerStep,

    /// <summary>Writes of 1 to 64 bytes: frames and header blocks straddle reads.</summary>
    Dribble,
}

internal enum StreamRefKind : byte
{
    /// <summary>The next unused odd id (opens a stream).</summary>
    New,

    /// <summary>The stream most recently opened by a <see cref="New"/> (1 if none).</summary>
    Current,

    /// <summary>An earlier opened stream (Arg back from the current one).</summary>
    Previous,

    Zero,

    /// <summary>The current id plus one: even, never a client stream.</summary>
    Even,

    /// <summary>An odd id above everything opened so far (Arg steps of 2 above the next new one).</summary>
    Idle,

    /// <summary>2^31-1.</summary>
    Huge,

    /// <summary>The current id with the reserved bit set (RFC 9113 §4.1 says to ignore it).</summary>
    Reserved,
}

/// <summary>A stream id chosen symbolically, resolved when the session is encoded so that shrinking keeps it meaningful.</summary>
internal readonly record struct StreamRef(StreamRefKind Kind, int Arg = 0)
{
    public static StreamRef New => new(StreamRefKind.New);

    public static StreamRef Current => new(StreamRefKind.Current);

    public override string ToString() => Kind switch
    {
        StreamRefKind.New => "new",
        StreamRefKind.Current => "cur",
        StreamRefKind.Previous => $"prev{Arg}",
        StreamRefKind.Zero => "0",
        StreamRefKind.Even => "even",
        StreamRefKind.Idle => $"idle+{Arg}",
        StreamRefKind.Huge => "2^31-1",
        StreamRefKind.Reserved => "cur|R",
        _ => Kind.ToString(),
    };
}

internal readonly record struct Header(string Name, string Value)
{
    public override string ToString() => $"{Printable(Name)}: {Printable(Value)}";

    /// <summary>Control characters escaped and long strings cut, so the dump stays readable text.</summary>
    public static string Printable(string text, int max = 60)
    {
        var printable = new StringBuilder();
        foreach (char c in text.Length > max ? text[..max] : text)
        {
            printable.Append(c is < ' ' or > '~' ? $"\\x{(int)c:x2}" : c.ToString());
        }

        return text.Length > max ? $"{printable}…({text.Length} chars)" : printable.ToString();
    }
}

internal enum HeaderEncoding : byte
{
    /// <summary>The engine's own HPACK encoder (indexing, Huffman), kept in step with the server's decoder.</summary>
    Hpack,

    /// <summary>Literal fields without indexing, bytes exactly as given (uppercase and invalid names survive).</summary>
    Literal,
}

/// <summary>A byte-level mutation of the encoded stream; positions wrap around its length.</summary>
internal abstract record ByteMutation;

internal sealed record ByteFlip(uint Position, byte Xor) : ByteMutation
{
    public override string ToString() => $"flip(@{Position} ^0x{Xor:x2})";
}

internal sealed record Truncate(uint Position) : ByteMutation
{
    public override string ToString() => $"truncate(@{Position})";
}

internal sealed record SentFrame(int Index, int Offset, int Length, string Description);

/// <summary>A transport write: bytes [Offset, Offset+Length), then a pause of DelayMs, then maybe the host's shutdown request.</summary>
internal readonly record struct Chunk(int Offset, int Length, int DelayMs, bool ShutdownAfter = false);

internal sealed record EncodedSession(byte[] Bytes, List<SentFrame> Frames, List<Chunk> Chunks, List<string> AppliedMutations);

/// <summary>Encodes steps into bytes and remembers what each frame was, for the dump.</summary>
internal sealed class SessionWriter
{
    private readonly List<byte> _bytes = [];
    private readonly List<SentFrame> _frames = [];
    private readonly List<int> _opened = [];
    private readonly List<int> _stepStarts = [];
    private readonly Dictionary<int, int> _pauses = [];
    private readonly HashSet<int> _shutdowns = [];
    private int _nextStreamId = 1;

    public SessionWriter(ServerConfig config)
    {
        Config = config;
        Encoder = new HpackEncoder(Math.Min(config.HeaderTableSize, Http2Limits.DefaultHeaderTableSize));
    }

    public ServerConfig Config { get; }

    public HpackEncoder Encoder { get; }

    public void BeginStep(FuzzStep step) => _stepStarts.Add(_bytes.Count);

    public void Pause(int milliseconds) => _pauses[_bytes.Count] = _pauses.GetValueOrDefault(_bytes.Count) + milliseconds;

    public void RequestShutdown() => _shutdowns.Add(_bytes.Count);

    public uint Resolve(StreamRef reference)
    {
        int current = _opened.Count > 0 ? _opened[^1] : 1;
        switch (reference.Kind)
        {
            case StreamRefKind.New:
                int id = _nextStreamId;
                _nextStreamId += 2;
                _opened.Add(id);
                return (uint)id;
            case StreamRefKind.Current:
                return (uint)current;
            case StreamRefKind.Previous:
                return _opened.Count == 0 ? 1u : (uint)_opened[Math.Max(0, _opened.Count - 1 - reference.Arg)];
            case StreamRefKind.Zero:
                return 0;
            case StreamRefKind.Even:
                return (uint)current + 1;
            case StreamRefKind.Idle:
                return (uint)(_nextStreamId + (2 * reference.Arg));
            case StreamRefKind.Huge:
                return int.MaxValue;
            case StreamRefKind.Reserved:
                return (uint)current | 0x8000_0000;
            default:
                throw new ArgumentOutOfRangeException(nameof(reference));
        }
    }

    public void Raw(ReadOnlySpan<byte> bytes, string description)
    {
        _frames.Add(new SentFrame(_frames.Count, _bytes.Count, bytes.Length, description));
        _bytes.AddRange(bytes);
    }

    /// <summary>A frame with full control: the declared length may differ from the payload carried.</summary>
    public void Frame(byte type, byte flags, uint streamId, ReadOnlySpan<byte> payload, string note = "", int? declaredLength = null)
    {
        int length = declaredLength ?? payload.Length;
        Span<byte> header = stackalloc byte[Http2FrameHeader.Size];
        header[0] = (byte)(length >> 16);
        header[1] = (byte)(length >> 8);
        header[2] = (byte)length;
        header[3] = type;
        header[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(header[5..], streamId);
        string carried = length != payload.Length ? $" (carries {payload.Length})" : string.Empty;
        string description = $"{TypeName(type)} flags={FlagNames(type, flags)} stream={FormatStreamId(streamId)} len={length}{carried}" +
            (note.Length > 0 ? $" [{note}]" : string.Empty) + (payload.Length > 0 ? $" payload={Hex(payload)}" : string.Empty);
        int offset = _bytes.Count;
        _bytes.AddRange(header);
        _bytes.AddRange(payload);
        _frames.Add(new SentFrame(_frames.Count, offset, Http2FrameHeader.Size + payload.Length, description));
    }

    public byte[] EncodeHeaderBlock(IEnumerable<Header> fields)
    {
        var block = new ArrayBufferWriter<byte>();
        Encoder.BeginHeaderBlock(block);
        foreach (Header field in fields)
        {
            Encoder.EncodeHeader(field.Name, field.Value, block);
        }

        return block.WrittenSpan.ToArray();
    }

    public static byte[] LiteralHeaderBlock(IEnumerable<Header> fields) =>
        H2Middleware.Tests.ServeLoop.Harness.Http2TestClient.RawHeaderBlock(fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value)));

    public EncodedSession Finish(ByteMutation[] mutations, SendMode send, int chunkSeed)
    {
        byte[] bytes = _bytes.ToArray();
        var applied = new List<string>();
        foreach (ByteMutation mutation in mutations)
        {
            if (bytes.Length == 0)
            {
                break;
            }

            switch (mutation)
            {
                case ByteFlip flip:
                    int at = (int)(flip.Position % (uint)bytes.Length);
                    byte xor = flip.Xor == 0 ? (byte)1 : flip.Xor;
                    bytes[at] ^= xor;
                    applied.Add($"{mutation}: byte {at} 0x{bytes[at] ^ xor:x2} -> 0x{bytes[at]:x2} in {FrameAt(at)}");
                    break;
                case Truncate truncate:
                    int keep = (int)(truncate.Position % (uint)bytes.Length);
                    applied.Add($"{mutation}: cut to {keep} of {bytes.Length} bytes, inside {FrameAt(keep)}");
                    bytes = bytes[..keep];
                    break;
            }
        }

        return new EncodedSession(bytes, _frames, CutIntoChunks(bytes.Length, send, chunkSeed), applied);
    }

    private string FrameAt(int offset)
    {
        SentFrame? frame = _frames.LastOrDefault(f => f.Offset <= offset);
        if (frame is null)
        {
            return "nothing";
        }

        int within = offset - frame.Offset;
        return $"#{frame.Index} at +{within}" + (within < Http2FrameHeader.Size && !frame.Description.StartsWith("preface", StringComparison.Ordinal) ? " (frame header)" : string.Empty);
    }

    private List<Chunk> CutIntoChunks(int length, SendMode send, int chunkSeed)
    {
        var cuts = new SortedSet<int>(_pauses.Keys.Concat(_shutdowns).Where(p => p > 0 && p < length));
        if (send == SendMode.PerStep)
        {
            cuts.UnionWith(_stepStarts.Where(p => p > 0 && p < length));
        }
        else if (send == SendMode.Dribble)
        {
            uint state = (uint)chunkSeed | 1;
            for (int at = 0; at < length;)
            {
                state = (state * 1_664_525) + 1_013_904_223;
                at += 1 + (int)((state >> 16) % 64);
                if (at < length)
                {
                    cuts.Add(at);
                }
            }
        }

        var chunks = new List<Chunk>();
        int start = 0;
        foreach (int cut in cuts.Append(length))
        {
            if (cut > start)
            {
                // A pause or shutdown placed past a truncation happens at the end.
                bool last = cut == length;
                chunks.Add(new Chunk(
                    start,
                    cut - start,
                    last ? _pauses.Where(p => p.Key >= cut).Sum(p => p.Value) : _pauses.GetValueOrDefault(cut),
                    last ? _shutdowns.Any(p => p >= cut) : _shutdowns.Contains(cut)));
                start = cut;
            }
        }

        return chunks;
    }

    public static string Hex(ReadOnlySpan<byte> bytes, int max = 40)
    {
        string hex = Convert.ToHexString(bytes[..Math.Min(bytes.Length, max)]).ToLowerInvariant();
        return bytes.Length > max ? hex + $"…(+{bytes.Length - max})" : hex;
    }

    public static string FormatStreamId(uint streamId) =>
        (streamId & 0x8000_0000) != 0 ? $"{streamId & 0x7FFF_FFFF}|R" : streamId.ToString(CultureInfo.InvariantCulture);

    public static string TypeName(byte type) => (Http2FrameType)type switch
    {
        Http2FrameType.Data => "DATA",
        Http2FrameType.Headers => "HEADERS",
        Http2FrameType.Priority => "PRIORITY",
        Http2FrameType.RstStream => "RST_STREAM",
        Http2FrameType.Settings => "SETTINGS",
        Http2FrameType.PushPromise => "PUSH_PROMISE",
        Http2FrameType.Ping => "PING",
        Http2FrameType.GoAway => "GOAWAY",
        Http2FrameType.WindowUpdate => "WINDOW_UPDATE",
        Http2FrameType.Continuation => "CONTINUATION",
        Http2FrameType.PriorityUpdate => "PRIORITY_UPDATE",
        _ => $"UNKNOWN(0x{type:x2})",
    };

    public static string FlagNames(byte type, byte flags)
    {
        if (flags == 0)
        {
            return "0";
        }

        var names = new List<string>();
        if ((flags & 0x1) != 0)
        {
            names.Add(type is (byte)Http2FrameType.Settings or (byte)Http2FrameType.Ping ? "ACK" : "END_STREAM");
        }

        if ((flags & 0x4) != 0)
        {
            names.Add("END_HEADERS");
        }

        if ((flags & 0x8) != 0)
        {
            names.Add("PADDED");
        }

        if ((flags & 0x20) != 0)
        {
            names.Add("PRIORITY");
        }

        int other = flags & ~0x2D;
        if (other != 0)
        {
            names.Add($"0x{other:x2}");
        }

        return string.Join('|', names);
    }
}
