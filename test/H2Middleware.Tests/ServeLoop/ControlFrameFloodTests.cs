using H2Middleware.Frames;
using H2Middleware.ServeLoop;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>PING and SETTINGS floods are cut off even from a client that reads every acknowledgement.</summary>
public class ControlFrameFloodTests
{
    [Theory]
    [InlineData("PING")]
    [InlineData("SETTINGS")]
    public async Task AReadingClientThatFloodsIsCutOff(string kind)
    {
        var time = new FakeTimeProvider();
        await using var client = await Http2TestClient.ConnectAsync(context => context.Response.WriteAsync("ok"), o => o.TimeProvider = time);

        ReceivedFrame? goAway = null;
        for (int i = 0; i < 2 * ControlFrameRateLimit.Burst && goAway is null; i++)
        {
            await (kind == "PING" ? client.SendPingAsync((ulong)i) : client.SendSettingsAsync());
            ReceivedFrame answer = await client.ReadFrameAsync();
            if (answer.Type == Http2FrameType.GoAway)
            {
                goAway = answer;
            }
        }

        Assert.NotNull(goAway);
        Assert.Equal(Http2ErrorCode.EnhanceYourCalm, goAway.ErrorCode);
        Assert.Equal("ControlFrameFlood", goAway.GoAwayDebugData);
    }

    [Fact]
    public async Task PingsAtAModestRateAreAnsweredForever()
    {
        var time = new FakeTimeProvider();
        await using var client = await Http2TestClient.ConnectAsync(context => context.Response.WriteAsync("ok"), o => o.TimeProvider = time);

        // Three times the burst, at half the sustained rate.
        for (int i = 0; i < 3 * ControlFrameRateLimit.Burst; i++)
        {
            time.Advance(TimeSpan.FromSeconds(2.0 / ControlFrameRateLimit.PerSecond));
            await client.SendPingAsync((ulong)i);
            ReceivedFrame answer = await client.ExpectAsync(Http2FrameType.Ping, 0);
            Assert.Equal((ulong)i, answer.PingData);
        }

        await client.SendGetAsync(1);
        Assert.Equal("ok", (await client.ReadResponseAsync(1)).BodyText);
    }
}
