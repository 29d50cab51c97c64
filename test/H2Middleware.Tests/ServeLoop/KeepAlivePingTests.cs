using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>Keep-alive PING, as Kestrel's KeepAlivePingDelay and KeepAlivePingTimeout: a silent client is checked, a dead one dropped.</summary>
public class KeepAlivePingTests
{
    private static readonly TimeSpan Delay = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(5);

    private static async Task<Http2TestClient> ConnectAsync(FakeTimeProvider time)
    {
        Http2TestClient client = await Http2TestClient.ConnectAsync(context => context.Response.WriteAsync("ok"), o =>
        {
            o.TimeProvider = time;
            o.KeepAlivePingDelay = Delay;
            o.KeepAlivePingTimeout = PingTimeout;
        });
        await SettleAsync(client);
        return client;
    }

    /// <summary>A PING round trip: the loop has handled everything sent before it (our SETTINGS ack above all) before the clock moves.</summary>
    private static async Task SettleAsync(Http2TestClient client)
    {
        await client.SendPingAsync(0xC0FFEE);
        Assert.True((await client.ExpectAsync(Http2FrameType.Ping, 0)).IsAck);
    }

    [Fact]
    public async Task AQuietClientIsPingedAndOneThatDoesNotAnswerIsDisconnected()
    {
        var time = new FakeTimeProvider();
        await using var client = await ConnectAsync(time);

        time.Advance(Delay);
        ReceivedFrame ping = await client.ExpectAsync(Http2FrameType.Ping, 0);
        Assert.False(ping.IsAck);

        time.Advance(PingTimeout);
        await client.ExpectConnectionClosedAsync();
        Assert.True(client.Connection.ConnectionClosed.IsCancellationRequested);
    }

    [Fact]
    public async Task AClientThatAnswersStaysConnectedAndIsPingedAgain()
    {
        var time = new FakeTimeProvider();
        await using var client = await ConnectAsync(time);

        for (int round = 0; round < 3; round++)
        {
            time.Advance(Delay);
            ReceivedFrame ping = await client.ExpectAsync(Http2FrameType.Ping, 0);
            await client.SendPingAsync(ping.PingData, ack: true);
            await client.SendPingAsync(100);
            Assert.True((await client.ExpectAsync(Http2FrameType.Ping, 0)).IsAck);
            time.Advance(PingTimeout);
        }

        await client.SendGetAsync(1);
        Assert.Equal("ok", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task NoPingIsSentByDefault()
    {
        var time = new FakeTimeProvider();
        await using var client = await Http2TestClient.ConnectAsync(context => Task.CompletedTask, o => o.TimeProvider = time);
        await SettleAsync(client);

        time.Advance(TimeSpan.FromSeconds(60));

        await Assert.ThrowsAsync<TimeoutException>(() => client.ReadFrameAsync(TimeSpan.FromMilliseconds(300)));
    }
}
