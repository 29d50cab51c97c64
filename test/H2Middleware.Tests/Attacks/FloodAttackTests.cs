using System.Buffers;
using H2Middleware.Frames;
using Xunit.Abstractions;

namespace H2Middleware.Tests.Attacks;

/// <summary>Floods of small frames over real sockets, while a well-behaved client keeps using the server.</summary>
[Collection("Attacks")]
public class FloodAttackTests(AttackServer server, ITestOutputHelper output) : AttackTestBase(server, output)
{
    private static readonly TimeSpan Round = TimeSpan.FromSeconds(3);

    // A DATA frame of stream 1 with the PADDED flag, its pad length 0 and no data: one octet of flow control, no bytes.
    private static readonly byte[] PaddedEmptyData = [0, 0, 1, (byte)Http2FrameType.Data, (byte)Http2FrameFlags.Padded, 0, 0, 0, 1, 0];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EmptyDataFloodIsCutOff(bool padded)
    {
        // CVE-2019-9518: empty DATA frames on a request whose handler waits for its body; padding makes none less empty.
        AttackOutcome outcome = await RunAsync("empty DATA flood", TimeSpan.FromSeconds(1), context => context.RepeatAsync(async () =>
        {
            await using RawHttp2Socket attacker = await context.ConnectAsync();
            await attacker.SendAsync(w => attacker.WriteRequest(w, 1, "POST", "/echo", endStream: false));
            await Flood.RunAsync(attacker, 20_000, Round, 100_000, (w, _) =>
            {
                if (padded)
                {
                    w.Write(PaddedEmptyData);
                }
                else
                {
                    Http2FrameWriter.WriteData(w, 1, [], endStream: false);
                }
            });
            await AwaitCutOffAsync(attacker);
        }));

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, c => AssertGoAwayAndClose(c, Http2ErrorCode.EnhanceYourCalm, "too many empty DATA frames"));
    }

    [Fact]
    public async Task PriorityFloodLeavesTheServerUsable()
    {
        // RFC 7540 PRIORITY frames on ever new idle streams (CVE-2019-9513 churned priority trees this way). The engine
        // ignores RFC 7540 priorities, so they only cost a parse each; nothing cuts the attacker off.
        AttackOutcome outcome = await RunAsync("PRIORITY flood", TimeSpan.FromSeconds(3), context => context.RepeatAsync(async () =>
        {
            RawHttp2Socket attacker = await context.ConnectAsync();
            await Flood.RunAsync(attacker, 20_000, context.Remaining, 500_000_000, (w, i) =>
            {
                int streamId = (2 * i) + 3;
                Http2FrameWriter.WritePriority(w, streamId, streamId - 2, exclusive: i % 2 == 0, weight: i % 256);
            });
        }));

        AssertServerUnharmed(outcome);
    }

    [Fact]
    public async Task WindowUpdateFloodOfOneByteIncrementsLeavesTheServerUsable()
    {
        // A download through a window that opens one byte at a time (CVE-2019-9511, data dribble). The server does not
        // answer each WINDOW_UPDATE of 1 with a DATA frame of one byte: increments that arrive in one read are summed
        // before the write pass (30,000 increments made ~400 DATA frames in a 3 s run).
        AttackOutcome outcome = await RunAsync("WINDOW_UPDATE flood (1-byte increments)", TimeSpan.FromSeconds(3), context => context.RepeatAsync(async () =>
        {
            RawHttp2Socket attacker = await context.ConnectAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));
            await attacker.SendAsync(w => attacker.WriteRequest(w, 1, "GET", "/big", endStream: true));
            await Flood.RunAsync(attacker, 10_000, context.Remaining, 1_000_000, (w, _) =>
            {
                Http2FrameWriter.WriteWindowUpdate(w, 1, 1);
                Http2FrameWriter.WriteWindowUpdate(w, 0, 1);
            });
        }));

        AssertServerUnharmed(outcome);
        Assert.True(outcome.Connections[0].FramesReceived(Http2FrameType.Data) > 0, $"the server did not send the dribbled DATA: {outcome.Connections[0]}");
    }
}
