using H2Middleware.Frames;
using Xunit.Abstractions;

namespace H2Middleware.Tests.Attacks;

/// <summary>Clients that hold the server's resources by being slow, over real sockets, while a well-behaved client keeps using the server.</summary>
[Collection("Attacks")]
public class SlowClientAttackTests(AttackServer server, ITestOutputHelper output) : AttackTestBase(server, output)
{
    [Fact]
    public async Task SlowPrefaceConnectionsAreClosedAfterThePrefaceTimeout()
    {
        // Connections that send nothing, part of the preface, or the preface without SETTINGS.
        TimeSpan waitForClose = AttackServer.PrefaceTimeout + TimeSpan.FromSeconds(3);
        AttackOutcome outcome = await RunAsync("slow preface", TimeSpan.FromSeconds(1), context => context.RepeatAsync(async () =>
        {
            var round = new List<RawHttp2Socket>();
            for (int i = 0; i < 50; i++)
            {
                RawHttp2Socket attacker = await context.ConnectRawAsync();
                round.Add(attacker);
                if (i % 5 == 3)
                {
                    await attacker.SendRawAsync("PRI * HTTP/2.0\r\n"u8.ToArray());
                }
                else if (i % 5 == 4)
                {
                    await attacker.SendPrefaceAsync();
                }
            }

            await Task.WhenAll(round.Select(a => a.WaitForCloseAsync(waitForClose)));
        }));

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, c => Assert.True(c.IsClosed && c.ClosedAt < waitForClose, $"a slow-preface connection was not closed in time: {c}"));
        // With the whole preface, the engine runs and says why it gives up.
        Assert.All(outcome.Connections.Where((_, i) => i % 5 == 4), c => Assert.Equal(Http2ErrorCode.ProtocolError, c.GoAway?.ErrorCode));
    }

    [Fact]
    public async Task ZeroWindowHoldKeepsTheServersMemoryBounded()
    {
        // CVE-2019-9517: SETTINGS_INITIAL_WINDOW_SIZE 0, then 100 streams per connection asking for 1 MiB each, and a
        // window that never opens. Each stream may hold at most MaxResponseBufferSizePerStream (64 KiB) in the engine.
        AttackOutcome outcome = await RunAsync("zero-window hold", TimeSpan.FromSeconds(3), async context =>
        {
            for (int c = 0; c < 2; c++)
            {
                RawHttp2Socket attacker = await context.ConnectAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));
                await attacker.SendAsync(w =>
                {
                    for (int i = 0; i < 100; i++)
                    {
                        attacker.WriteRequest(w, (2 * i) + 1, "GET", "/big", endStream: true);
                    }
                });
            }

            await Task.Delay(context.Remaining);
        });

        AssertServerUnharmed(outcome);
        Assert.All(outcome.Connections, c => Assert.Equal(100, c.Responses.Count));
    }
}
