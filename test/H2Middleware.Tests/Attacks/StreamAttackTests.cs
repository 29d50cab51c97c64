using System.Buffers;
using H2Middleware.Frames;
using Xunit.Abstractions;

namespace H2Middleware.Tests.Attacks;

/// <summary>Attacks that open, reset or refuse streams, over real sockets, while a well-behaved client keeps using the server.</summary>
[Collection("Attacks")]
public class StreamAttackTests(AttackServer server, ITestOutputHelper output) : AttackTestBase(server, output)
{
    private static readonly TimeSpan Round = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task RapidResetIsCutOffOnceHandlersPileUp()
    {
        // CVE-2023-44487: HEADERS then RST_STREAM, again and again, on handlers that take a second and ignore the reset.
        Server.ResetSlowHandlerCount();
        AttackOutcome outcome = await RunAsync("rapid reset", TimeSpan.FromSeconds(1), context => context.RepeatAsync(async () =>
        {
            await using RawHttp2Socket attacker = await context.ConnectAsync();
            await Flood.RunAsync(attacker, 10_000, Round, 20_000, (w, i) =>
            {
                int streamId = (2 * i) + 1;
                attacker.WriteRequest(w, streamId, "GET", "/slow", endStream: true);
                Http2FrameWriter.WriteRstStream(w, streamId, Http2ErrorCode.Cancel);
            });
            await AwaitCutOffAsync(attacker);
        }));

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, c => AssertGoAwayAndClose(c, Http2ErrorCode.EnhanceYourCalm, "too many streams waiting for a handler"));
        // One attacker connection at a time, and each closes only once its handlers returned: never more than the stream limit.
        Assert.InRange(Server.MaxSlowHandlersRunning, 1, 100);
    }

    [Fact]
    public async Task RapidResetOnHandlersThatHonourTheResetLeavesTheServerUsable()
    {
        // The same attack on handlers that stop when the request is aborted: while the server keeps up nothing piles up
        // and nothing cuts the attacker off (as in Kestrel and Go); what it costs is each stream's start and abort, which
        // must not starve others. When the thread pool falls behind, handlers do pile up and the attacker is cut off as
        // above (a 10 s run on a busy machine was, after 2 s); the attacker then reconnects.
        AttackOutcome outcome = await RunAsync("rapid reset, cancellable handlers", TimeSpan.FromSeconds(3), context => context.RepeatAsync(async () =>
        {
            RawHttp2Socket attacker = await context.ConnectAsync();
            await Flood.RunAsync(attacker, 10_000, context.Remaining, 1_000_000_000, (w, i) =>
            {
                int streamId = (2 * i) + 1;
                attacker.WriteRequest(w, streamId, "GET", "/cancellable", endStream: true);
                Http2FrameWriter.WriteRstStream(w, streamId, Http2ErrorCode.Cancel);
            });
        }));

        AssertServerUnharmed(outcome);
    }

    [Fact]
    public async Task MadeYouResetExhaustsTheClientErrorBudget()
    {
        // MadeYouReset: valid requests, then a frame that makes the server reset each one — a WINDOW_UPDATE that overflows
        // the stream's send window, or DATA beyond the declared content-length. The handlers keep running after the reset.
        AttackOutcome outcome = await RunAsync("MadeYouReset", TimeSpan.FromSeconds(1), context => context.RepeatAsync(async () =>
        {
            await using RawHttp2Socket attacker = await context.ConnectAsync();
            await Flood.RunAsync(attacker, 2_000, Round, 10_000, (w, i) =>
            {
                int streamId = (2 * i) + 1;
                if (i % 2 == 0)
                {
                    attacker.WriteRequest(w, streamId, "POST", "/slow", endStream: false);
                    Http2FrameWriter.WriteWindowUpdate(w, streamId, int.MaxValue);
                }
                else
                {
                    attacker.WriteRequest(w, streamId, "POST", "/slow", endStream: false, ("content-length", "1"));
                    Http2FrameWriter.WriteData(w, streamId, "xx"u8, endStream: true);
                }
            });
            await AwaitCutOffAsync(attacker);
        }));

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, c =>
        {
            AssertGoAwayAndClose(c, Http2ErrorCode.EnhanceYourCalm, "WindowUpdateSizeInvalid", "InvalidContentLength");
            Assert.Contains(c.Resets, r => r.ErrorCode == Http2ErrorCode.FlowControlError);
            Assert.Contains(c.Resets, r => r.ErrorCode == Http2ErrorCode.ProtocolError);
        });
    }

    [Fact]
    public async Task OpeningStreamsBeyondTheLimitAgainAndAgainIsCutOff()
    {
        // SETTINGS_MAX_CONCURRENT_STREAMS is 100: fill it with handlers that take a second, then keep opening more.
        AttackOutcome outcome = await RunAsync("stream-limit abuse", TimeSpan.FromSeconds(1), context => context.RepeatAsync(async () =>
        {
            await using RawHttp2Socket attacker = await context.ConnectAsync();
            await Flood.RunAsync(attacker, 5_000, Round, 10_000, (w, i) => attacker.WriteRequest(w, (2 * i) + 1, "GET", "/slow", endStream: true));
            await AwaitCutOffAsync(attacker);
        }));

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, c =>
        {
            AssertGoAwayAndClose(c, Http2ErrorCode.EnhanceYourCalm, "MaxConcurrentStreamsExceeded");
            Assert.Contains(c.Resets, r => r.ErrorCode == Http2ErrorCode.RefusedStream);
        });
    }

    [Fact]
    public async Task OpeningStreamsBeyondTheLimitWithoutAcknowledgingSettingsIsCutOff()
    {
        // Until the client acknowledges our SETTINGS it may not know the limit (RFC 9113 §6.5.3), so one more limit's
        // worth of streams is refused for free; past that each refusal draws on the error budget.
        AttackOutcome outcome = await RunAsync("stream-limit abuse, SETTINGS not acknowledged", TimeSpan.FromSeconds(1), context => context.RepeatAsync(async () =>
        {
            await using RawHttp2Socket attacker = await context.ConnectRawAsync();
            attacker.AutoAckSettings = false;
            await attacker.SendAsync(w =>
            {
                w.Write(Http2Limits.ClientPreface);
                Http2FrameWriter.WriteSettings(w, []);
            });
            await Flood.RunAsync(attacker, 5_000, AttackServer.SettingsAckTimeout + Round, int.MaxValue, (w, i) => attacker.WriteRequest(w, (2 * i) + 1, "GET", "/slow", endStream: true));
            await AwaitCutOffAsync(attacker);
        }));

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, c =>
        {
            AssertGoAwayAndClose(c, Http2ErrorCode.EnhanceYourCalm, "MaxConcurrentStreamsExceeded");
            Assert.True(c.GoAwayAt < AttackServer.SettingsAckTimeout, $"cut off late: {c}");
        });
    }

    [Fact]
    public async Task SolicitedResetFloodIsCutOff()
    {
        // CVE-2019-9514: invalid requests that each make the server send a RST_STREAM.
        byte[] malformed = MalformedRequestBlock();
        AttackOutcome outcome = await RunAsync("RST_STREAM flood (solicited)", TimeSpan.FromSeconds(1), context => context.RepeatAsync(async () =>
        {
            await using RawHttp2Socket attacker = await context.ConnectAsync();
            await Flood.RunAsync(attacker, 5_000, Round, 10_000, (w, i) => Http2FrameWriter.WriteHeaders(w, (2 * i) + 1, malformed, endStream: true, Http2Limits.DefaultMaxFrameSize));
            await AwaitCutOffAsync(attacker);
        }));

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, c =>
        {
            AssertGoAwayAndClose(c, Http2ErrorCode.EnhanceYourCalm, "InvalidRequestHeaders");
            Assert.Contains(c.Resets, r => r.ErrorCode == Http2ErrorCode.ProtocolError);
        });
    }

    [Fact]
    public async Task ResetFloodOnAClosedStreamLeavesTheServerUsable()
    {
        // RST_STREAM frames for a stream that is already closed are ignored (RFC 9113 §5.1 allows it): they cost a parse each.
        AttackOutcome outcome = await RunAsync("RST_STREAM flood (closed stream)", TimeSpan.FromSeconds(3), context => context.RepeatAsync(async () =>
        {
            RawHttp2Socket attacker = await context.ConnectAsync();
            await attacker.SendAsync(w => attacker.WriteRequest(w, 1, "GET", "/probe", endStream: true));
            await WaitUntilAsync(() => attacker.Responses.ContainsKey(1));
            await Flood.RunAsync(attacker, 20_000, context.Remaining, int.MaxValue, (w, _) => Http2FrameWriter.WriteRstStream(w, 1, Http2ErrorCode.Cancel));
        }));

        AssertServerUnharmed(outcome);
    }

    /// <summary>A GET whose header block has an upper-case field name (RFC 9113 §8.2.1), as literals that leave HPACK state alone.</summary>
    internal static byte[] MalformedRequestBlock()
    {
        var block = new List<byte>();
        RawHttp2Socket.AppendLiteral(block, ":method", "GET");
        RawHttp2Socket.AppendLiteral(block, ":scheme", "http");
        RawHttp2Socket.AppendLiteral(block, ":authority", "127.0.0.1");
        RawHttp2Socket.AppendLiteral(block, ":path", "/probe");
        RawHttp2Socket.AppendLiteral(block, "Upper-Case", "x");
        return [.. block];
    }

    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        while (!condition())
        {
            await Task.Delay(10, deadline.Token);
        }
    }
}
