using H2Middleware.Frames;
using Xunit.Abstractions;

namespace H2Middleware.Tests.Attacks;

/// <summary>
/// Attacks answered by rates and timeouts: PING and SETTINGS floods from a client that reads the answers (the control
/// frame rate limit, not the limit on frames owed to a client that does not read), slowloris headers
/// (<c>RequestHeadersTimeout</c>, 2 s here), slow request bodies and slow reads (<c>MinRequestBodyDataRate</c>,
/// <c>MinResponseDataRate</c>, 240 B/s after 2 s here).
/// </summary>
[Collection("Attacks")]
public class RateAndTimeoutAttackTests(AttackServer server, ITestOutputHelper output) : AttackTestBase(server, output)
{
    private static readonly TimeSpan AttackTime = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task PingFloodFromAClientThatReadsIsCutOff()
    {
        // CVE-2019-9512 from a client that does read the acks: 10,000 PINGs a second.
        AttackOutcome outcome = await RunAsync("PING flood (reading client)", AttackTime, async context =>
        {
            RawHttp2Socket attacker = await context.ConnectAsync();
            await Flood.RunAsync(attacker, 10_000, context.Remaining, int.MaxValue, (w, i) => Http2FrameWriter.WritePing(w, (ulong)i, ack: false));
            await attacker.WaitForCutOffAsync(TimeSpan.FromSeconds(1));
        });

        AssertServerUnharmed(outcome);
        RawHttp2Socket attacker = outcome.Connections[0];
        AssertCutOffAsAFlood(attacker, $"a client sending 10,000 PINGs a second and reading the acks ({attacker.FramesReceived(Http2FrameType.Ping)} received)");
    }

    [Fact]
    public async Task SettingsFloodFromAClientThatReadsIsCutOff()
    {
        // CVE-2019-9515 from a client that does read the acks: 10,000 SETTINGS a second, each changing
        // SETTINGS_INITIAL_WINDOW_SIZE, so each one also walks the connection's 100 open streams.
        AttackOutcome outcome = await RunAsync("SETTINGS flood (reading client)", AttackTime, async context =>
        {
            RawHttp2Socket attacker = await context.ConnectAsync();
            await attacker.SendAsync(w =>
            {
                for (int i = 0; i < 100; i++)
                {
                    attacker.WriteRequest(w, (2 * i) + 1, "GET", "/hold", endStream: true);
                }
            });
            await Flood.RunAsync(attacker, 10_000, context.Remaining, int.MaxValue, (w, i) =>
                Http2FrameWriter.WriteSettings(w, [new Http2Setting(Http2SettingsParameter.InitialWindowSize, (uint)(65_535 + (i % 2)))]));
            await attacker.WaitForCutOffAsync(TimeSpan.FromSeconds(1));
        });

        AssertServerUnharmed(outcome);
        RawHttp2Socket attacker = outcome.Connections[0];
        AssertCutOffAsAFlood(attacker, $"a client sending 10,000 SETTINGS a second and reading the acks ({attacker.FramesReceived(Http2FrameType.Settings)} SETTINGS received)");
    }

    [Fact]
    public async Task SlowlorisHeadersAreCutOffByTheRequestHeadersTimeout()
    {
        // Ten connections each open a header block and send one more byte of it, in a CONTINUATION, every second.
        byte[] block = [.. HeaderAttackTests.PseudoHeaders("/probe"), .. HeaderAttackTests.Literals(("x-slow", new string('s', 200)))];
        const int pseudoLength = 40;
        AttackOutcome outcome = await RunAsync("slowloris headers", AttackTime, async context =>
        {
            var attackers = new List<RawHttp2Socket>();
            for (int c = 0; c < 10; c++)
            {
                RawHttp2Socket attacker = await context.ConnectAsync();
                await attacker.SendAsync(w => RawHttp2Socket.WriteFrame(w, Http2FrameType.Headers, Http2FrameFlags.EndStream, 1, block.AsSpan(0, pseudoLength)));
                attackers.Add(attacker);
            }

            for (int next = pseudoLength; context.TimeLeft && next < block.Length - 1 && attackers.Any(a => !a.IsCutOff); next++)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                foreach (RawHttp2Socket attacker in attackers.Where(a => !a.IsCutOff))
                {
                    await attacker.SendAsync(w => RawHttp2Socket.WriteFrame(w, Http2FrameType.Continuation, Http2FrameFlags.None, 1, block.AsSpan(next, 1)));
                }
            }
        });

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, attacker => Assert.True(attacker.GoAway is not null || attacker.IsClosed,
            $"a header block trickling a byte a second was not cut off within {AttackTime.TotalSeconds} s " +
            $"(RequestHeadersTimeout {AttackServer.RequestHeadersTimeout.TotalSeconds} s): {attacker}"));
    }

    [Fact]
    public async Task SlowRequestBodyIsEndedByTheMinimumDataRate()
    {
        // Ten POSTs declaring 100 bytes whose bodies trickle in a byte a second, to a handler that reads the body.
        AttackOutcome outcome = await RunAsync("slow request body", AttackTime, async context =>
        {
            RawHttp2Socket attacker = await context.ConnectAsync();
            int[] streams = [.. Enumerable.Range(0, 10).Select(i => (2 * i) + 1)];
            await attacker.SendAsync(w =>
            {
                foreach (int streamId in streams)
                {
                    attacker.WriteRequest(w, streamId, "POST", "/echo", endStream: false, ("content-length", "100"));
                }
            });
            while (context.TimeLeft && !attacker.IsCutOff && !streams.All(id => IsEnded(attacker, id)))
            {
                await attacker.SendAsync(w =>
                {
                    foreach (int streamId in streams.Where(id => !IsEnded(attacker, id)))
                    {
                        Http2FrameWriter.WriteData(w, streamId, "x"u8, endStream: false);
                    }
                });
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        });

        AssertServerUnharmed(outcome);
        RawHttp2Socket attacker = outcome.Connections[0];
        Assert.True(attacker.IsCutOff || Enumerable.Range(0, 10).All(i => IsEnded(attacker, (2 * i) + 1)),
            $"request bodies arriving at a byte a second were not ended within {AttackTime.TotalSeconds} s " +
            $"(MinRequestBodyDataRate {AttackServer.MinDataRateBytesPerSecond} B/s after {AttackServer.MinDataRateGracePeriod.TotalSeconds} s): {attacker}");
    }

    [Fact]
    public async Task ZeroWindowHoldIsEndedByTheMinimumResponseDataRate()
    {
        // CVE-2019-9517 held open: 100 responses of 1 MiB to a client whose window never opens. Memory stays bounded
        // (SlowClientAttackTests), but the handlers and streams are held for as long as the client likes; Kestrel ends
        // such responses with its minimum response data rate.
        AttackOutcome outcome = await RunAsync("zero-window hold (cut-off)", AttackTime, async context =>
        {
            RawHttp2Socket attacker = await context.ConnectAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));
            await attacker.SendAsync(w =>
            {
                for (int i = 0; i < 100; i++)
                {
                    attacker.WriteRequest(w, (2 * i) + 1, "GET", "/big", endStream: true);
                }
            });
            while (context.TimeLeft && !attacker.IsCutOff && attacker.Resets.Count < 100)
            {
                await Task.Delay(100);
            }
        });

        AssertServerUnharmed(outcome);
        RawHttp2Socket attacker = outcome.Connections[0];
        Assert.True(attacker.IsCutOff || attacker.Resets.Count == 100,
            $"responses stalled on a zero window were not ended within {AttackTime.TotalSeconds} s " +
            $"(MinResponseDataRate {AttackServer.MinDataRateBytesPerSecond} B/s after {AttackServer.MinDataRateGracePeriod.TotalSeconds} s): {attacker}");
    }

    private static void AssertCutOffAsAFlood(RawHttp2Socket attacker, string who)
    {
        Assert.True(attacker.GoAway?.ErrorCode == Http2ErrorCode.EnhanceYourCalm, $"{who} was not cut off with ENHANCE_YOUR_CALM within {AttackTime.TotalSeconds} s: {attacker}");
        Assert.True(attacker.GoAway.DebugData != OwedControlFramesReason, $"{who} was cut off only because 10,000 of its frames arrived in one read: {attacker}");
    }

    private const string OwedControlFramesReason = "too many control frames owed to a client that does not read";

    /// <summary>The server ended the request: it reset the stream or sent a response (a 408, say).</summary>
    private static bool IsEnded(RawHttp2Socket attacker, int streamId) =>
        attacker.Responses.ContainsKey(streamId) || attacker.Resets.Any(r => r.StreamId == streamId);
}
