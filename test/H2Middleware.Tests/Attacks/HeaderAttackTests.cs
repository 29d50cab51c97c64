using H2Middleware.Frames;
using Xunit.Abstractions;

namespace H2Middleware.Tests.Attacks;

/// <summary>Attacks on header blocks (CONTINUATION, HPACK), over real sockets, while a well-behaved client keeps using the server.</summary>
[Collection("Attacks")]
public class HeaderAttackTests(AttackServer server, ITestOutputHelper output) : AttackTestBase(server, output)
{
    private static readonly TimeSpan Round = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task ContinuationFloodIsCutOff()
    {
        // CVE-2024-27316 and friends: a header block that never ends, each CONTINUATION carrying another kilobyte of fields.
        byte[] start = PseudoHeaders("/probe");
        byte[] filler = Literals(("x-filler", new string('a', 1000)));
        AttackOutcome outcome = await RunAsync("CONTINUATION flood", TimeSpan.FromSeconds(1), context => context.RepeatAsync(async () =>
        {
            await using RawHttp2Socket attacker = await context.ConnectAsync();
            await Flood.RunAsync(attacker, 20_000, Round, 100_000, (w, i) =>
            {
                if (i == 0)
                {
                    RawHttp2Socket.WriteFrame(w, Http2FrameType.Headers, Http2FrameFlags.EndStream, 1, start);
                }
                else
                {
                    RawHttp2Socket.WriteFrame(w, Http2FrameType.Continuation, Http2FrameFlags.None, 1, filler);
                }
            });
            await AwaitCutOffAsync(attacker);
        }));

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, c => AssertGoAwayAndClose(c, Http2ErrorCode.EnhanceYourCalm, "too many CONTINUATION frames in one header block"));
    }

    [Fact]
    public async Task EmptyHeadersAndContinuationFloodIsCutOff()
    {
        // CVE-2019-9518 for header blocks: an empty HEADERS without END_HEADERS, then empty CONTINUATION frames.
        AttackOutcome outcome = await RunAsync("empty HEADERS/CONTINUATION flood", TimeSpan.FromSeconds(1), context => context.RepeatAsync(async () =>
        {
            await using RawHttp2Socket attacker = await context.ConnectAsync();
            await Flood.RunAsync(attacker, 20_000, Round, 100_000, (w, i) =>
                RawHttp2Socket.WriteFrame(w, i == 0 ? Http2FrameType.Headers : Http2FrameType.Continuation, Http2FrameFlags.None, 1, []));
            await AwaitCutOffAsync(attacker);
        }));

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, c => AssertGoAwayAndClose(c, Http2ErrorCode.EnhanceYourCalm, "too many CONTINUATION frames in one header block"));
    }

    [Fact]
    public async Task HpackBombIsAnswered431ThenCutOff()
    {
        // An HPACK bomb: one field of ~4 KB inserted in the dynamic table, then referenced 16,000 times per header block
        // (one byte each): every block decodes to ~64 MB of header list. The list limit (32 KiB) is enforced as it decodes.
        byte[] insert = InsertLargeEntry();
        byte[] references = Enumerable.Repeat((byte)(0x80 | 62), 16_000).ToArray();
        AttackOutcome outcome = await RunAsync("HPACK bomb", TimeSpan.FromSeconds(1), context => context.RepeatAsync(async () =>
        {
            await using RawHttp2Socket attacker = await context.ConnectAsync();
            await Flood.RunAsync(attacker, 200, Round, 10_000, (w, i) =>
            {
                byte[] block = [.. PseudoHeaders("/probe"), .. i == 0 ? insert : [], .. references];
                Http2FrameWriter.WriteHeaders(w, (2 * i) + 1, block, endStream: true, Http2Limits.DefaultMaxFrameSize);
            });
            await AwaitCutOffAsync(attacker);
        }));

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, c =>
        {
            AssertGoAwayAndClose(c, Http2ErrorCode.EnhanceYourCalm, "MaxRequestHeadersTotalSizeExceeded");
            Assert.Contains("431", c.Responses.Values);
        });
    }

    /// <summary>The four pseudo-header fields of a GET, as literals without indexing (no HPACK state).</summary>
    internal static byte[] PseudoHeaders(string path) =>
        Literals((":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"), (":path", path));

    internal static byte[] Literals(params (string Name, string Value)[] fields)
    {
        var block = new List<byte>();
        foreach (var (name, value) in fields)
        {
            RawHttp2Socket.AppendLiteral(block, name, value);
        }

        return [.. block];
    }

    /// <summary>A literal with incremental indexing (RFC 7541 §6.2.1): "x-bomb" and 4,000 bytes, which becomes dynamic index 62.</summary>
    private static byte[] InsertLargeEntry()
    {
        var block = new List<byte> { 0x40 };
        RawHttp2Socket.AppendString(block, "x-bomb");
        RawHttp2Socket.AppendString(block, new string('b', 4000));
        return [.. block];
    }
}
