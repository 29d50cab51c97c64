using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>Graceful shutdown in two GOAWAYs (RFC 9113 §6.8): requests already on their way are served, not lost.</summary>
public class GracefulShutdownTests
{
    [Fact]
    public async Task AStreamOpenedBeforeThePingAckIsServedOneOpenedAfterTheFinalGoAwayIsIgnored()
    {
        await using var client = await Http2TestClient.ConnectAsync(context => context.Response.WriteAsync(context.Request.Path));

        client.Connection.RequestClose();
        ReceivedFrame first = await client.ExpectGoAwayAsync(Http2ErrorCode.NoError);
        Assert.Equal(Http2Limits.MaxStreamId, first.LastStreamId);
        ReceivedFrame ping = await client.ExpectAsync(Http2FrameType.Ping, 0);

        // A request the client sent before it could see the first GOAWAY.
        await client.SendGetAsync(1, "/in-flight");
        await client.SendPingAsync(ping.PingData, ack: true);

        ReceivedFrame final = await client.ExpectGoAwayAsync(Http2ErrorCode.NoError);
        Assert.Equal(1, final.LastStreamId);
        await client.SendGetAsync(3, "/too-late");
        Assert.Equal("/in-flight", (await client.ReadResponseAsync(1)).BodyText);

        while (await client.TryReadFrameAsync() is { } frame)
        {
            Assert.NotEqual(3, frame.StreamId);
        }
    }

    [Fact]
    public async Task WithoutThePingAckTheFinalGoAwayStillComes()
    {
        await using var client = await Http2TestClient.ConnectAsync(context => context.Response.WriteAsync("ok"));
        await client.SendGetAsync(1);
        await client.ReadResponseAsync(1);

        client.Connection.RequestClose();
        ReceivedFrame final = await client.ExpectGracefulGoAwayAsync(answerPing: false);

        Assert.Equal(1, final.LastStreamId);
        await client.ExpectConnectionClosedAsync();
    }
}
