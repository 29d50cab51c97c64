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
    public async Task AClientPartWayThroughALargeFrameIsNotPinged()
    {
        var time = new FakeTimeProvider();
        FaultyTransport? transport = null;
        await using var client = Http2TestClient.Start(
            async context =>
            {
                byte[] body = await new StreamContent(context.Request.Body).ReadAsByteArrayAsync();
                await context.Response.WriteAsync(body.Length.ToString());
            },
            o =>
            {
                o.TimeProvider = time;
                o.KeepAlivePingDelay = Delay;
                o.KeepAlivePingTimeout = PingTimeout;
                // The body arrives in one frame, delivered when whole: the clock jumps well past the data rate's grace.
                o.MinRequestBodyDataRate = null;
            },
            wrapTransport: inner => transport = new FaultyTransport(inner));
        await client.HandshakeAsync();
        await SettleAsync(client);
        await client.SendPostAsync(1);

        const int PayloadLength = 16_000;
        byte[] frame = new byte[9 + PayloadLength];
        frame[1] = PayloadLength >> 8;
        frame[2] = PayloadLength & 0xFF;
        frame[4] = (byte)Http2FrameFlags.EndStream;
        frame[8] = 1;
        // The frame's header and a first part reach the serve loop, which then waits for the rest of the frame.
        await client.SendRawAsync(frame[..4_000]);
        await transport!.Reader.WaitForExaminedAsync(client.BytesSent);
        time.Advance(Delay / 2);
        // More of the frame: the client is sending, though no frame completes.
        await client.SendRawAsync(frame[4_000..8_000]);
        await transport.Reader.WaitForExaminedAsync(client.BytesSent);

        time.Advance(Delay / 2);
        await Assert.ThrowsAsync<TimeoutException>(() => client.ReadFrameAsync(TimeSpan.FromMilliseconds(300)));

        await client.SendRawAsync(frame[8_000..]);
        Assert.Equal(PayloadLength.ToString(), (await client.ReadResponseAsync(1)).BodyText);
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
