using System.Text;
using CsCheck;
using H2Middleware.Frames;

namespace H2Middleware.Tests.Fuzzing;

/// <summary>
/// CsCheck generators of client sessions: a valid prefix (preface, SETTINGS, requests, bodies, window updates,
/// pings, priority signals, resets) followed by a corrupting tail, byte flips and a way of cutting the bytes into
/// writes. Built from CsCheck combinators only, so every session has a size and failures shrink.
/// </summary>
internal static class FuzzGen
{
    private static Gen<T> Const<T>(T value) => Gen.Const(value);

    private static Gen<FuzzStep> Step<T>(Gen<T> gen) where T : FuzzStep => gen.Select(step => (FuzzStep)step);

    private static Gen<FuzzStep[]> One(Gen<FuzzStep> gen) => gen.Select(step => new[] { step });

    // ---- Stream ids ----

    private static readonly Gen<StreamRef> AnyStream = Gen.Frequency(
        (8, Const(StreamRef.Current)),
        (4, Const(StreamRef.New)),
        (2, Gen.Int[1, 4].Select(k => new StreamRef(StreamRefKind.Previous, k))),
        (1, Const(new StreamRef(StreamRefKind.Zero))),
        (1, Const(new StreamRef(StreamRefKind.Even))),
        (1, Gen.Int[0, 3].Select(k => new StreamRef(StreamRefKind.Idle, k))),
        (1, Const(new StreamRef(StreamRefKind.Huge))),
        (1, Const(new StreamRef(StreamRefKind.Reserved))));

    private static readonly Gen<StreamRef> OpenedStream = Gen.Frequency(
        (6, Const(StreamRef.Current)),
        (2, Gen.Int[1, 3].Select(k => new StreamRef(StreamRefKind.Previous, k))));

    // ---- Server options ----

    private static readonly Gen<ServerConfig> Config = Gen.Frequency(
        (3, Const(ServerConfig.Default)),
        (2, Gen.Select(
            Gen.OneOf(1, 2, 4, 100),
            Gen.OneOf(65_535, 100_000, 768 * 1024),
            Gen.OneOf(65_535, 1024 * 1024),
            Gen.OneOf(0, 64, 4096),
            Gen.OneOf(1024, 32_768),
            Gen.OneOf(1024, 64 * 1024),
            Gen.OneOf<long?>(100, 30_000_000, null),
            Gen.OneOf(16_384, 65_536),
            Gen.Frequency((4, Const(false)), (1, Const(true))),
            Gen.Frequency((3, Const(0)), (1, Gen.OneOf(1024, 16 * 1024, 64 * 1024))),
            (streams, streamWindow, connectionWindow, table, headerList, responseBuffer, maxBody, maxFrame, shortTimers, clientBuffer) =>
                new ServerConfig(streams, streamWindow, connectionWindow, table, headerList, responseBuffer, maxBody, maxFrame, shortTimers, clientBuffer))));

    // ---- Header fields ----

    private static readonly Gen<string> Token = Gen.Byte[(byte)'a', (byte)'z'].Array[1, 12].Select(b => Encoding.Latin1.GetString(b));

    private static readonly Gen<string> Value = Gen.Frequency(
        (4, Gen.Byte[0x20, 0x7E].Array[0, 24].Select(b => Encoding.Latin1.GetString(b).Trim())),
        (1, Gen.OneOf("", "value", "a, b", "0")));

    private static readonly Gen<Header> ValidExtra = Gen.Frequency(
        (4, Gen.Select(Gen.OneOf("accept", "user-agent", "cookie", "x-fuzz", "x-request-id", "authorization"), Value, (n, v) => new Header(n, v))),
        (2, Gen.Select(Token, Value, (n, v) => new Header("x-" + n, v))),
        (1, Gen.OneOf("u=0", "u=7, i", "u=3", "i").Select(v => new Header("priority", v))),
        (1, Const(new Header("te", "trailers"))));

    private static readonly Gen<Header> AnyExtra = Gen.Frequency(
        (6, ValidExtra),
        (1, Gen.OneOf("0", "5", "100000", "abc", "-1", "5, 5", "99999999999999999999").Select(v => new Header("content-length", v))),
        (1, Gen.OneOf("u=9", "i=?0", ";;,,=", "u=", "u=1;x, i=?1, u=0").Select(v => new Header("priority", v))),
        (1, Gen.OneOf(
            new Header("connection", "keep-alive"), new Header("upgrade", "h2c"), new Header("keep-alive", "5"),
            new Header("transfer-encoding", "chunked"), new Header("te", "gzip"), new Header("proxy-connection", "x"))),
        (1, Gen.OneOf(
            new Header("X-Upper", "v"), new Header("", "empty name"), new Header("bad name", "v"), new Header(":path", "/late"),
            new Header(":unknown", "v"), new Header(":method", "GET"), new Header("x-crlf", "a\r\nb"), new Header("x-nul", "a\0b"),
            new Header("host", "elsewhere"), new Header(":protocol", "websocket"), new Header("x-space", " padded "))),
        (1, Gen.Int[1_000, 40_000].Select(n => new Header("x-huge", new string('h', n)))));

    private static readonly Gen<string> Path = Gen.Frequency(
        (12, Gen.OneOf(FuzzApplication.Paths)),
        (1, Gen.OneOf("", "*", "nopath", "/hello?x=1#frag", "//double", "/%zz", "/echo/../hello", "http://localhost/hello")));

    // ---- Valid steps ----

    private static Gen<RequestStep> Request(bool valid) => Request(valid, valid ? Const(StreamRef.New) : Gen.Frequency((6, Const(StreamRef.New)), (3, AnyStream)), allowLeaveOpen: !valid);

    private static Gen<RequestStep> Request(bool valid, Gen<StreamRef> streams, bool allowLeaveOpen) => Gen.Select(
        streams,
        valid ? Gen.OneOf("GET", "POST", "HEAD", "PUT") : Gen.Frequency((8, Gen.OneOf("GET", "POST", "HEAD", "PUT")), (1, Gen.OneOf("", "CONNECT", "get", "OPTIONS"))),
        Path,
        valid ? ValidExtra.Array[0, 2] : AnyExtra.Array[0, 3],
        Gen.Bool,
        valid ? Gen.Frequency((9, Const(HeaderEncoding.Hpack)), (1, Const(HeaderEncoding.Literal))) : Gen.OneOf(HeaderEncoding.Hpack, HeaderEncoding.Literal),
        Gen.Frequency((6, Const(0)), (1, Gen.Int[1, 24])),
        allowLeaveOpen ? Gen.Frequency((9, Const(false)), (1, Const(true))) : Const(false),
        Gen.Frequency((8, Const(-1)), (1, Gen.Int[0, 20])),
        Gen.Frequency((8, Const(false)), (1, Const(true))),
        (stream, method, path, extra, endStream, encoding, fragment, leaveOpen, pad, priority) =>
            new RequestStep(stream, method, path, extra, endStream, encoding, fragment, leaveOpen, pad, priority));

    private static readonly Gen<int> DataLength = Gen.Frequency(
        (2, Const(0)),
        (6, Gen.Int[1, 200]),
        (2, Gen.Int[200, 16_384]));

    private static Gen<DataStep> Data(Gen<StreamRef> stream) => Gen.Select(
        stream, DataLength, Gen.Bool, Gen.Frequency((8, Const(-1)), (1, Gen.Int[0, 255])),
        (s, length, end, pad) => new DataStep(s, pad >= 0 ? Math.Min(length, 16_000 - pad) : length, end, pad));

    private static Gen<WindowUpdateStep> WindowUpdate(Gen<StreamRef> stream, bool valid) => Gen.Select(
        Gen.Frequency((1, Const(new StreamRef(StreamRefKind.Zero))), (1, stream)),
        valid
            ? Gen.Frequency((3, Gen.UInt[1, 70_000]), (1, Gen.UInt[1, 1u << 24]))
            : Gen.Frequency((3, Gen.UInt[1, 70_000]), (1, Gen.OneOf(0u, 0x7FFF_FFFFu, 0x8000_0001u, 0x7FFF_0000u)), (1, Gen.UInt)),
        (s, increment) => new WindowUpdateStep(s, increment));

    private static readonly Gen<PingStep> Ping = Gen.Select(Gen.ULong, Gen.Frequency((6, Const(false)), (1, Const(true))), (data, ack) => new PingStep(data, ack));

    private static readonly Gen<Http2Setting> ValidSetting = Gen.Frequency(
        (1, Gen.OneOf(0u, 100u, 4096u, 65_536u).Select(v => new Http2Setting(Http2SettingsParameter.HeaderTableSize, v))),
        (1, Gen.OneOf(0u, 1u).Select(v => new Http2Setting(Http2SettingsParameter.EnablePush, v))),
        (1, Gen.OneOf(0u, 1u, 100u).Select(v => new Http2Setting(Http2SettingsParameter.MaxConcurrentStreams, v))),
        (2, Gen.OneOf(0u, 1u, 100u, 65_535u, 1_000_000u, 0x7FFF_FFFFu).Select(v => new Http2Setting(Http2SettingsParameter.InitialWindowSize, v))),
        (1, Gen.OneOf(16_384u, 65_536u, 16_777_215u).Select(v => new Http2Setting(Http2SettingsParameter.MaxFrameSize, v))),
        (1, Gen.OneOf(1_000u, 100_000u).Select(v => new Http2Setting(Http2SettingsParameter.MaxHeaderListSize, v))),
        (1, Gen.OneOf(0u, 1u).Select(v => new Http2Setting(Http2SettingsParameter.NoRfc7540Priorities, v))));

    private static readonly Gen<Http2Setting> AnySetting = Gen.Frequency(
        (4, ValidSetting),
        (1, Gen.Select(Gen.UShort, Gen.UInt, (p, v) => new Http2Setting((Http2SettingsParameter)p, v))),
        (1, Gen.OneOf(
            new Http2Setting(Http2SettingsParameter.EnablePush, 2), new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0x8000_0000),
            new Http2Setting(Http2SettingsParameter.MaxFrameSize, 16_383), new Http2Setting(Http2SettingsParameter.MaxFrameSize, 16_777_216),
            new Http2Setting(Http2SettingsParameter.NoRfc7540Priorities, 7), new Http2Setting(Http2SettingsParameter.EnableConnectProtocol, 1),
            new Http2Setting(Http2SettingsParameter.HeaderTableSize, uint.MaxValue))));

    private static readonly Gen<string> PriorityValue = Gen.Frequency(
        (3, Gen.OneOf("u=0", "u=7", "u=1, i", "i=?0", "u=5;x=1")),
        (1, Gen.Byte[0x00, 0xFF].Array[0, 20].Select(b => Encoding.Latin1.GetString(b))),
        (1, Gen.Int[250, 400].Select(n => "u=1," + new string(' ', n))));

    private static Gen<PriorityUpdateStep> PriorityUpdate(Gen<StreamRef> stream) => Gen.Select(
        Gen.Frequency((3, stream), (1, Const(StreamRef.New)), (1, Gen.Int[0, 3].Select(k => new StreamRef(StreamRefKind.Idle, k)))),
        PriorityValue,
        (s, value) => new PriorityUpdateStep(s, value));

    private static Gen<PriorityStep> Priority(Gen<StreamRef> stream) => Gen.Select(
        stream, Gen.Frequency((3, Const(new StreamRef(StreamRefKind.Zero))), (1, AnyStream)), Gen.Bool, Gen.Byte,
        (s, dependency, exclusive, weight) => new PriorityStep(s, dependency, exclusive, weight));

    private static Gen<RstStreamStep> RstStream(Gen<StreamRef> stream) => Gen.Select(
        stream, Gen.Frequency((4, Gen.UInt[0, 13]), (1, Gen.UInt)), (s, code) => new RstStreamStep(s, code));

    private static readonly Gen<FuzzStep> Pause = Gen.Int[1, 5].Select(ms => (FuzzStep)new PauseStep(ms));

    /// <summary>A request with its body: HEADERS, then DATA (the last one ending the stream unless the HEADERS did).</summary>
    private static readonly Gen<FuzzStep[]> Exchange = Gen.Select(
        Request(valid: true),
        Gen.Int[1, 2000].Array[0, 3],
        Gen.Frequency((6, Const(true)), (1, Const(false))),
        (request, bodyLengths, finish) =>
        {
            var steps = new List<FuzzStep> { request };
            if (!request.EndStream)
            {
                for (int i = 0; i < bodyLengths.Length; i++)
                {
                    steps.Add(new DataStep(StreamRef.Current, bodyLengths[i], finish && i == bodyLengths.Length - 1, -1));
                }

                if (finish && bodyLengths.Length == 0)
                {
                    steps.Add(new DataStep(StreamRef.Current, 0, true, -1));
                }
            }

            return steps.ToArray();
        });

    private static readonly Gen<FuzzStep[]> ValidOp = Gen.Frequency(
        (6, Exchange),
        (2, One(Step(Data(OpenedStream)))),
        (2, One(Step(WindowUpdate(OpenedStream, valid: true)))),
        (2, One(Step(Ping))),
        (1, One(Step(PriorityUpdate(OpenedStream)))),
        (1, One(Step(Priority(OpenedStream)))),
        (1, One(Step(RstStream(OpenedStream)))),
        (1, One(Step(ValidSetting.Array[0, 3].Select(s => new SettingsStep(s))))),
        (1, One(Step(Const(new SettingsAckStep())))),
        (2, One(Pause)));

    // ---- Corruption ----

    private static readonly byte[] LiteralRequestBlock = SessionWriter.LiteralHeaderBlock(
        [new(":method", "GET"), new(":scheme", "https"), new(":authority", "localhost"), new(":path", "/hello"), new("x-fuzz", "value")]);

    private static readonly Gen<(byte[] Block, string Origin)> BadHpack = Gen.Frequency(
        (2, Gen.Byte.Array[0, 32].Select(b => (b, "random bytes"))),
        (2, Gen.Int[0, LiteralRequestBlock.Length - 1].Select(n => (LiteralRequestBlock[..n], $"valid block cut at {n}"))),
        (2, Gen.Select(Gen.Int[0, LiteralRequestBlock.Length - 1], Gen.Byte[1, 255], (at, xor) =>
        {
            byte[] block = LiteralRequestBlock.ToArray();
            block[at] ^= xor;
            return (block, $"valid block, byte {at} ^0x{xor:x2}");
        })),
        (1, Gen.Select(Gen.Int[0, 70_000], Gen.Bool, (size, atStart) =>
        {
            Span<byte> update = stackalloc byte[8];
            int length = H2Middleware.Hpack.HpackInteger.Encode(size, 5, 0x20, update);
            byte[] block = atStart ? [.. update[..length], .. LiteralRequestBlock] : [.. LiteralRequestBlock, .. update[..length]];
            return (block, $"table size update to {size} {(atStart ? "first" : "after the fields")}");
        })),
        (1, Gen.Select(Gen.Int[1, 40], Gen.Int[0, 1000], (count, start) =>
        {
            // Literal with incremental indexing of new names: fills the server's dynamic table.
            var block = new List<byte>();
            for (int i = 0; i < count; i++)
            {
                byte[] name = Encoding.ASCII.GetBytes($"x-fill-{start + i}");
                block.Add(0x40);
                block.Add((byte)name.Length);
                block.AddRange(name);
                block.Add(100);
                block.AddRange(new byte[100].Select(_ => (byte)'v'));
            }

            return (block.ToArray(), $"{count} indexed literals");
        })),
        (2, Gen.OneOf<(byte[], string)>(
            ([0x80], "indexed field 0"),
            ([0xFF, 0x7F], "index past the dynamic table"),
            ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "integer overflow"),
            ([0xFF, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], "integer with too many octets"),
            ([0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0x07], "literal name of 2^31 octets"),
            ([0x00, 0x7F, 0xE1, 0xFF, 0x03], "literal name of 65,632 octets, absent"),
            ([0x00, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x61], "Huffman name holding EOS"),
            ([0x00, 0x82, 0x00, 0x00, 0x01, 0x61], "Huffman name with zero padding"),
            ([0x00, 0x81, 0xFF, 0x01, 0x61], "Huffman name of padding only"),
            ([0x3F, 0xE1, 0x1F], "table size update above the limit"),
            ([0x82, 0x20], "table size update after a field"),
            ([0x0F, 0x2F, 0x01, 0x61], "literal with static name index 62+ (dynamic, empty)"),
            ([0x10, 0x00, 0x00], "never-indexed empty name and value"))));

    private static readonly Gen<HeaderBlockStep> BadHeaderBlock = Gen.Select(
        Gen.Frequency((3, Const(StreamRef.New)), (1, AnyStream)),
        BadHpack,
        Gen.Frequency((4, Const((byte)0x5)), (2, Const((byte)0x4)), (1, Const((byte)0x1)), (1, Const((byte)0x0))),
        (stream, hpack, flags) => new HeaderBlockStep(stream, hpack.Block, flags, hpack.Origin));

    /// <summary>A header block left open, other frames in its middle, then CONTINUATION(s) on some stream.</summary>
    private static readonly Gen<FuzzStep[]> ContinuationInterleaving = Gen.Select(
        Request(valid: false).Select(r => r with { LeaveOpen = true, FragmentSize = r.FragmentSize == 0 ? 8 : r.FragmentSize }),
        Gen.Frequency((3, Const(Array.Empty<FuzzStep>())), (1, ValidOp)),
        Gen.Select(
            Gen.Frequency((5, Const(StreamRef.Current)), (1, AnyStream)),
            Gen.Frequency((3, Const(Array.Empty<byte>())), (1, Gen.Byte.Array[1, 16]), (1, BadHpack.Select(h => h.Block))),
            Gen.Frequency((3, Const(true)), (1, Const(false))),
            (stream, fragment, end) => (FuzzStep)new ContinuationStep(stream, fragment, end)).Array[1, 3],
        (open, middle, continuations) => new FuzzStep[] { open }.Concat(middle).Concat(continuations).ToArray());

    private static readonly Gen<RawFrameStep> RawFrame = Gen.Select(
        Gen.Frequency((4, Gen.Byte[0, 9]), (1, Const((byte)0x10)), (1, Gen.Byte)),
        Gen.Frequency((2, Const((byte)0)), (2, Gen.OneOf<byte>(0x1, 0x4, 0x5, 0x8, 0x20, 0x28)), (1, Gen.Byte)),
        AnyStream,
        Gen.Frequency((3, Gen.Byte.Array[0, 12]), (1, Gen.Byte.Array[0, 64])),
        Gen.Frequency((8, Const(0)), (1, Gen.Int[-9, 9])),
        (type, flags, stream, payload, delta) => new RawFrameStep(type, flags, stream, payload, delta));

    private static readonly Gen<BadPaddingStep> BadPadding = Gen.Select(
        Gen.OneOf<byte>(0x0, 0x1, 0x5), Gen.Frequency((2, OpenedStream), (1, Const(StreamRef.New))), Gen.Int[0, 10], Gen.Byte,
        (type, stream, length, pad) => new BadPaddingStep(type, stream, length, pad));

    private static readonly Gen<OversizedStep> Oversized = Gen.Select(
        Gen.OneOf<byte>(0x0, 0x1, 0x4, 0x6, 0x8, 0x9, 0xAA),
        AnyStream,
        Gen.Frequency((3, Gen.Int[65_537, 65_600]), (2, Gen.Int[16_385, 16_500]), (1, Const(16_777_215))),
        Gen.Frequency((3, Gen.Int[0, 64]), (1, Gen.Int[16_385, 17_000])),
        (type, stream, declared, carried) => new OversizedStep(type, stream, declared, Math.Min(carried, declared)));

    private static readonly Gen<GoAwayStep> GoAway = Gen.Select(
        Gen.Frequency((2, Gen.Int[0, 9]), (1, Const(int.MaxValue))), Gen.UInt[0, 13], Gen.Int[0, 16],
        (last, code, debug) => new GoAwayStep(last, code, debug));

    /// <summary>Many of one small frame: resource exhaustion (rapid reset, empty DATA, PING, SETTINGS, resets, CONTINUATION).</summary>
    private static readonly Gen<FuzzStep[]> Burst = Gen.Select(
        Gen.Int[10, 160],
        Gen.Int[0, 5],
        (count, kind) => kind switch
        {
            0 => Enumerable.Range(0, count).SelectMany(_ => new FuzzStep[]
            {
                new RequestStep(StreamRef.New, "GET", "/slow", [], true, HeaderEncoding.Hpack, 0, false, -1, false),
                new RstStreamStep(StreamRef.Current, 8),
            }).ToArray(),
            1 => Enumerable.Range(0, count).Select(_ => (FuzzStep)new DataStep(StreamRef.Current, 0, false, -1)).ToArray(),
            2 => Enumerable.Range(0, count).Select(i => (FuzzStep)new PingStep((ulong)i, false)).ToArray(),
            3 => Enumerable.Range(0, count).Select(_ => (FuzzStep)new SettingsStep([])).ToArray(),
            4 => new FuzzStep[] { new RequestStep(StreamRef.New, "GET", "/hello", [], true, HeaderEncoding.Hpack, 0, true, -1, false) }
                .Concat(Enumerable.Range(0, count).Select(_ => (FuzzStep)new ContinuationStep(StreamRef.Current, [], false))).ToArray(),
            _ => Enumerable.Range(0, count).Select(_ => (FuzzStep)new RequestStep(StreamRef.New, "POST", "/echo", [], false, HeaderEncoding.Hpack, 0, false, -1, false)).ToArray(),
        });

    /// <summary>Misbehaviour a server answers per stream (or not at all): the connection lives on, so later steps reach deep states.</summary>
    private static readonly Gen<FuzzStep[]> GentleOp = Gen.Frequency(
        (6, ValidOp),
        (3, One(Step(Request(valid: false, Gen.Frequency((6, Const(StreamRef.New)), (1, OpenedStream)), allowLeaveOpen: false)))),
        (2, One(Step(Data(Gen.Frequency((4, OpenedStream), (1, Gen.Int[2, 8].Select(k => new StreamRef(StreamRefKind.Previous, k)))))))),
        (1, One(Step(WindowUpdate(OpenedStream, valid: false)))),
        (1, One(Step(RstStream(OpenedStream)))),
        (1, One(Step(PriorityUpdate(OpenedStream)))),
        (1, One(Step(Priority(Gen.Frequency((3, OpenedStream), (1, Gen.Int[0, 3].Select(k => new StreamRef(StreamRefKind.Idle, k)))))))),
        (1, One(Step(Gen.Select(OpenedStream, AnyExtra.Array[0, 3], Gen.Bool, Gen.OneOf(HeaderEncoding.Hpack, HeaderEncoding.Literal), (s, f, e, enc) => new TrailersStep(s, f, e, enc))))),
        (1, One(Step(GoAway))),
        (1, One(Step(Const(new ShutdownStep())))),
        (1, Burst));

    private static readonly Gen<FuzzStep[]> ChaosOp = Gen.Frequency(
        (6, ValidOp),
        (2, One(Step(Request(valid: false)))),
        (1, One(Step(Data(AnyStream)))),
        (1, One(Step(WindowUpdate(AnyStream, valid: false)))),
        (1, One(Step(RstStream(AnyStream)))),
        (1, One(Step(PriorityUpdate(AnyStream)))),
        (1, One(Step(Priority(AnyStream)))),
        (1, One(Step(Gen.Select(OpenedStream, AnyExtra.Array[0, 3], Gen.Bool, Gen.OneOf(HeaderEncoding.Hpack, HeaderEncoding.Literal), (s, f, e, enc) => new TrailersStep(s, f, e, enc))))),
        (3, One(Step(RawFrame))),
        (3, One(Step(BadHeaderBlock))),
        (1, One(Step(BadPadding))),
        (2, ContinuationInterleaving),
        (1, One(Step(Oversized))),
        (1, One(Step(Gen.Byte.Array[1, 30].Select(b => new GarbageStep(b))))),
        (1, One(Step(GoAway))),
        (1, One(Step(AnySetting.Array[0, 3].Select(s => new SettingsStep(s))))),
        (1, Burst));

    private static readonly Gen<ByteMutation[]> Mutations = Gen.Frequency(
        (12, Const(Array.Empty<ByteMutation>())),
        (3, Gen.Select(Gen.UInt.Uniform, Gen.Byte, (at, xor) => (ByteMutation)new ByteFlip(at, xor)).Array[1, 3]),
        (1, Gen.UInt.Uniform.Select(at => new ByteMutation[] { new Truncate(at) })));

    private static readonly Gen<FuzzStep[]> Handshake = Gen.Select(
        ValidSetting.Array[0, 3],
        Gen.Frequency((9, Const(true)), (1, Const(false))),
        (settings, ack) => ack
            ? new FuzzStep[] { new PrefaceStep(), new SettingsStep(settings), new SettingsAckStep() }
            : new FuzzStep[] { new PrefaceStep(), new SettingsStep(settings) });

    public static readonly Gen<FuzzSession> Session = Gen.Select(
        Config,
        Gen.Select(
            Handshake,
            Gen.Frequency((1, Const(Array.Empty<FuzzStep[]>())), (6, Exchange.Array[1, 2])),
            ValidOp.Array[0, 8],
            (handshake, exchanges, ops) => handshake.Concat(exchanges.SelectMany(op => op)).Concat(ops.SelectMany(op => op)).ToArray()),
        Gen.Frequency((1, GentleOp.Array[0, 12]), (1, ChaosOp.Array[0, 12])).Select(ops => ops.SelectMany(op => op).ToArray()),
        Mutations,
        Gen.Frequency((4, Const(SendMode.Whole)), (4, Const(SendMode.PerStep)), (2, Const(SendMode.Dribble))),
        Gen.Int[0, 1 << 20],
        Gen.Frequency((6, Const(EndMode.Probe)), (1, Const(EndMode.CloseSending))),
        (config, prefix, tail, mutations, send, chunkSeed, end) => new FuzzSession(config, prefix, tail, mutations, send, chunkSeed, end));
}
