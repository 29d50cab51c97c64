using System.Text;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

public class ConnectionHandshakeTests
{
    private static readonly RequestDelegate Hello = context => context.Response.WriteAsync("hello");

    [Fact]
    public async Task ServerSendsItsSettingsFirstThenRaisesTheConnectionWindow()
    {
        await using var client = Http2TestClient.Start(Hello, o =>
        {
            o.MaxStreamsPerConnection = 7;
            o.InitialStreamWindowSize = 100_000;
            o.InitialConnectionWindowSize = 2_000_000;
            o.MaxFrameSize = 32_768;
            o.MaxRequestHeaderListSize = 16_384;
        });
        await client.SendPrefaceAsync();

        ReceivedFrame settings = await client.ReadFrameAsync();
        Assert.Equal(Http2FrameType.Settings, settings.Type);
        Assert.False(settings.IsAck);
        Assert.Contains(new Http2Setting(Http2SettingsParameter.MaxConcurrentStreams, 7), settings.Settings);
        Assert.Contains(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 100_000), settings.Settings);
        Assert.Contains(new Http2Setting(Http2SettingsParameter.MaxFrameSize, 32_768), settings.Settings);
        Assert.Contains(new Http2Setting(Http2SettingsParameter.MaxHeaderListSize, 16_384), settings.Settings);

        ReceivedFrame windowUpdate = await client.ReadFrameAsync();
        Assert.Equal(Http2FrameType.WindowUpdate, windowUpdate.Type);
        Assert.Equal(0, windowUpdate.StreamId);
        Assert.Equal(2_000_000 - 65_535, windowUpdate.WindowSizeIncrement);
    }

    [Fact]
    public async Task ClientSettingsAreAcknowledged()
    {
        await using var client = Http2TestClient.Start(Hello);
        await client.SendPrefaceAsync();
        await client.SendSettingsAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1000));
        ReceivedFrame ack;
        do
        {
            ack = await client.ReadFrameAsync();
        }
        while (!(ack.Type == Http2FrameType.Settings && ack.IsAck));

        Assert.Empty(ack.Payload);
    }

    [Fact]
    public async Task InvalidPrefaceOnTlsStyleConnectionIsAProtocolError()
    {
        await using var client = Http2TestClient.Start(Hello, endpointAllowsHttp1: false);
        await client.SendRawAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        await client.ExpectConnectionClosedAsync();
        Assert.False(client.PassedToNext);
    }

    [Fact]
    public async Task CleartextHttp1IsHandedToKestrelWhenTheEndpointAllowsIt()
    {
        await using var client = Http2TestClient.Start(Hello, endpointAllowsHttp1: true);
        await client.SendRawAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        await client.ServerTask.WaitAsync(Http2TestClient.DefaultTimeout);
        Assert.True(client.PassedToNext);
    }

    [Fact]
    public async Task FirstFrameOtherThanSettingsIsAProtocolError()
    {
        await using var client = Http2TestClient.Start(Hello);
        await client.SendPrefaceAsync();
        await client.SendPingAsync(1);
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        await client.ExpectConnectionClosedAsync();
    }

    /// <summary>
    /// RFC 9113 §3.4: the first frame must be SETTINGS even when it is malformed in a way that would otherwise be only a
    /// stream error (a PRIORITY of length 4, §6.3), and the SETTINGS that follows must not be taken as the first.
    /// </summary>
    [Fact]
    public async Task AMalformedFirstFrameOtherThanSettingsIsAProtocolError()
    {
        await using var client = Http2TestClient.Start(Hello);
        await client.SendPrefaceAsync();
        await client.SendRawAsync(StreamStateTests.Frame(Http2FrameType.Priority, Http2FrameFlags.None, 1, [0, 0, 0, 0]));
        await client.SendSettingsAsync();
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        await client.ExpectConnectionClosedAsync();
    }

    [Fact]
    public async Task PrefaceTimeoutClosesTheConnection()
    {
        var time = new FakeTimeProvider();
        await using var client = Http2TestClient.Start(
            Hello,
            o =>
            {
                o.TimeProvider = time;
                o.PrefaceTimeout = TimeSpan.FromSeconds(5);
            },
            alpnH2: true);
        await client.SendRawAsync(Http2Limits.ClientPreface[..10].ToArray());
        ReceivedFrame settings = await client.ReadFrameAsync();
        Assert.Equal(Http2FrameType.Settings, settings.Type);

        time.Advance(TimeSpan.FromSeconds(6));
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        await client.ExpectConnectionClosedAsync();
    }

    [Fact]
    public async Task CleartextConnectionThatNeverCompletesAPrefaceIsClosed()
    {
        var time = new FakeTimeProvider();
        await using var client = Http2TestClient.Start(Hello, o =>
        {
            o.TimeProvider = time;
            o.PrefaceTimeout = TimeSpan.FromSeconds(5);
        });
        await client.SendRawAsync(Http2Limits.ClientPreface[..10].ToArray());
        await Task.Delay(50);
        Assert.False(client.ServerTask.IsCompleted);

        // The middleware may not have started its timeout yet: keep moving the clock until it gives up.
        for (int i = 0; i < 200 && !client.ServerTask.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(6));
            await Task.Delay(25);
        }

        await client.ExpectConnectionClosedAsync();
        Assert.False(client.PassedToNext);
    }

    [Fact]
    public async Task UnacknowledgedSettingsTimeOutWithSettingsTimeout()
    {
        var time = new FakeTimeProvider();
        await using var client = Http2TestClient.Start(Hello, o =>
        {
            o.TimeProvider = time;
            o.SettingsAckTimeout = TimeSpan.FromSeconds(5);
        });
        await client.SendPrefaceAsync();
        await client.SendSettingsAsync();
        await client.ReadFrameAsync();

        time.Advance(TimeSpan.FromSeconds(6));
        await client.ExpectGoAwayAsync(Http2ErrorCode.SettingsTimeout);
        await client.ExpectConnectionClosedAsync();
    }

    [Fact]
    public async Task PingIsAnsweredWithTheSameData()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendPingAsync(0x0102030405060708);
        ReceivedFrame ack = await client.ExpectAsync(Http2FrameType.Ping, 0);
        Assert.True(ack.IsAck);
        Assert.Equal(0x0102030405060708UL, ack.PingData);
    }

    [Fact]
    public async Task IdleConnectionIsClosedAfterTheKeepAliveTimeout()
    {
        var time = new FakeTimeProvider();
        await using var client = await Http2TestClient.ConnectAsync(Hello, o =>
        {
            o.TimeProvider = time;
            o.KeepAliveTimeout = TimeSpan.FromSeconds(100);
        });
        await client.SendGetAsync(1);
        await client.ReadResponseAsync(1);

        time.Advance(TimeSpan.FromSeconds(60));
        await client.SendPingAsync(9);
        Assert.Equal(Http2FrameType.Ping, (await client.ExpectAsync(Http2FrameType.Ping, 0)).Type);

        time.Advance(TimeSpan.FromSeconds(50));
        ReceivedFrame goAway = await client.ExpectGracefulGoAwayAsync();
        Assert.Equal(1, goAway.LastStreamId);
        await client.ExpectConnectionClosedAsync();
    }
}
