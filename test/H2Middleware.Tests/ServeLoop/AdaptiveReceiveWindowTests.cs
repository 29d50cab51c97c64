using H2Middleware.Frames;
using H2Middleware.ServeLoop;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// Adaptive receive windows on the wire: a PING samples what the client sends in a round trip, its ACK grows the windows
/// when the sample filled them, never past the maximum, and with the switch off (or without ACKs) the windows are as
/// they always were. Windows of 65,535 bytes and frames of 16 KiB: the second frame to a reading handler leaves half a
/// window used, which starts a sample; 43,690 bytes (two thirds) fill it.
/// </summary>
public class AdaptiveReceiveWindowTests
{
    private const int Window = 65_535;

    private static void SmallWindows(Http2ServeLoopOptions options)
    {
        options.InitialStreamWindowSize = Window;
        options.InitialConnectionWindowSize = Window;
    }

    private static async Task<(Http2TestClient Client, WindowedUpload Upload)> StartUploadAsync(Action<Http2ServeLoopOptions>? configure = null)
    {
        var options = new Http2ServeLoopOptions();
        SmallWindows(options);
        configure?.Invoke(options);
        var upload = new WindowedUpload();
        Http2TestClient client = await Http2TestClient.ConnectAsync(upload.Handler, o =>
        {
            SmallWindows(o);
            configure?.Invoke(o);
        });
        await upload.StartAsync(client, options);
        return (client, upload);
    }

    /// <summary>Sends frames until the server starts a window sample (at most <paramref name="limit"/> bytes).</summary>
    private static async Task SendUntilSampleAsync(WindowedUpload upload, long limit = 1 << 20)
    {
        int samples = upload.SamplePings.Count;
        while (upload.SamplePings.Count == samples)
        {
            Assert.True(upload.Sent < limit, "no window sample started");
            await upload.SendAsync(WindowedUpload.FrameSize);
            await upload.SettleAsync();
        }
    }

    [Fact]
    public async Task ASampleStartsOnceTheClientOfAReadingHandlerHasUsedHalfAWindow()
    {
        (Http2TestClient client, WindowedUpload upload) = await StartUploadAsync();
        await using Http2TestClient _ = client;

        await upload.SendAsync(WindowedUpload.FrameSize);
        await upload.SettleAsync();
        Assert.Empty(upload.SamplePings);

        await upload.SendAsync(WindowedUpload.FrameSize);
        await upload.SettleAsync();
        Assert.Equal(ReceiveWindowTuner.PingDataPrefix, Assert.Single(upload.SamplePings) & 0xFFFF_FFFF_FF00_0000);
    }

    [Fact]
    public async Task TheAckOfASampleThatFilledTheWindowsGrowsThem()
    {
        (Http2TestClient client, WindowedUpload upload) = await StartUploadAsync();
        await using Http2TestClient _ = client;
        await SendUntilSampleAsync(upload);
        int updatesBefore = upload.WindowUpdates.Count;

        await upload.SendAsync(3 * WindowedUpload.FrameSize);
        await upload.AcknowledgeSampleAsync();
        await upload.SettleAsync();

        // 49,152 bytes in the round trip: both windows grow to twice that, 98,304, announced at once.
        List<(int StreamId, int Increment)> updates = upload.WindowUpdates[updatesBefore..];
        Assert.Contains((0, 2 * 49_152 - Window), updates);
        Assert.Contains((1, 2 * 49_152 - Window), updates);
        Assert.True(upload.LargestConnectionWindow > Window);
        Assert.True(upload.LargestStreamWindow > Window);

        await upload.SendAsync(200_000, endStream: true);
        Assert.Equal(upload.Sent.ToString(), (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task TheAckOfASmallSampleGrowsNothing()
    {
        (Http2TestClient client, WindowedUpload upload) = await StartUploadAsync();
        await using Http2TestClient _ = client;
        await SendUntilSampleAsync(upload);

        await upload.SendAsync(WindowedUpload.FrameSize);
        await upload.AcknowledgeSampleAsync();
        await upload.SettleAsync();

        Assert.Equal(Window, upload.LargestConnectionWindow);
        Assert.Equal(Window, upload.LargestStreamWindow);
    }

    [Fact]
    public async Task TheWindowsNeverGrowPastTheMaximumAndSamplingThenStops()
    {
        const int maximum = 150_000;

        // On a clock that does not move every round trip takes no time, so each fuller sample is a faster one.
        var time = new FakeTimeProvider();
        (Http2TestClient client, WindowedUpload upload) = await StartUploadAsync(o =>
        {
            o.TimeProvider = time;
            o.MaxReceiveWindowSize = maximum;
        });
        await using Http2TestClient _ = client;

        // Samples of 65,536 then 131,072 bytes: the windows grow to 131,072, then to the maximum, not 262,144.
        foreach (int sample in new[] { 65_536, 131_072 })
        {
            await SendUntilSampleAsync(upload);
            await upload.SendAsync(sample);
            await upload.AcknowledgeSampleAsync();
            await upload.SettleAsync();
        }

        // Growth is announced at once, by increments no refund has: 131,072 - 65,535, then 150,000 - 131,072.
        foreach (int streamId in new[] { 0, 1 })
        {
            Assert.Contains((streamId, 65_537), upload.WindowUpdates);
            Assert.Contains((streamId, 18_928), upload.WindowUpdates);
        }

        int samples = upload.SamplePings.Count;
        await upload.SendAsync(1_000_000);
        await upload.SettleAsync();

        Assert.Equal(samples, upload.SamplePings.Count);
        Assert.InRange(upload.LargestConnectionWindow, 131_072, maximum);
        Assert.InRange(upload.LargestStreamWindow, 131_072, maximum);
    }

    [Fact]
    public async Task WithoutAcksTheWindowUpdatesAreThoseOfFixedWindowsAndWithTheSwitchOffNoPingIsSent()
    {
        async Task<WindowedUpload> UploadAsync(bool adaptive)
        {
            (Http2TestClient client, WindowedUpload upload) = await StartUploadAsync(o => o.EnableAdaptiveReceiveWindows = adaptive);
            await using Http2TestClient _ = client;
            for (int frame = 0; frame < 30; frame++)
            {
                await upload.SendAsync(WindowedUpload.FrameSize, endStream: frame == 29);
                if (frame < 29)
                {
                    await upload.SettleAsync();
                }
            }

            Assert.Equal(upload.Sent.ToString(), (await client.ReadResponseAsync(1)).BodyText);
            return upload;
        }

        WindowedUpload fixedWindows = await UploadAsync(adaptive: false);
        WindowedUpload unanswered = await UploadAsync(adaptive: true);

        Assert.Empty(fixedWindows.SamplePings);
        Assert.All(fixedWindows.WindowUpdates, update => Assert.Equal(2 * WindowedUpload.FrameSize, update.Increment));
        Assert.Equal(28, fixedWindows.WindowUpdates.Count);

        // One sample, never answered: no other starts, and every window comes back exactly as with the switch off.
        Assert.Single(unanswered.SamplePings);
        Assert.Equal(fixedWindows.WindowUpdates, unanswered.WindowUpdates);
    }

    [Fact]
    public async Task SampleAndKeepAliveAcksAreNotMistakenForEachOther()
    {
        var time = new FakeTimeProvider();
        TimeSpan delay = TimeSpan.FromSeconds(10);
        TimeSpan timeout = TimeSpan.FromSeconds(5);
        (Http2TestClient client, WindowedUpload upload) = await StartUploadAsync(o =>
        {
            o.TimeProvider = time;
            o.KeepAlivePingDelay = delay;
            o.KeepAlivePingTimeout = timeout;
            o.MinRequestBodyDataRate = null;
        });
        await using Http2TestClient _ = client;
        await SendUntilSampleAsync(upload);

        // The keep-alive PING's ack does not end the sample: the sample's own ack, after a full window, still grows it.
        time.Advance(delay);
        await upload.ExpectPingAsync(KeepAlivePing.Data);
        await client.SendPingAsync(KeepAlivePing.Data, ack: true);
        await upload.SendAsync(3 * WindowedUpload.FrameSize);
        await upload.AcknowledgeSampleAsync();
        await upload.SettleAsync();
        Assert.True(upload.LargestConnectionWindow > Window);

        // The sample's ack does not answer the keep-alive PING: without its own ack the client is gone. (The next sample
        // may start a round trip, here the 10 s the clock moved, after the last one.)
        time.Advance(delay);
        await upload.ExpectPingAsync(KeepAlivePing.Data);
        await SendUntilSampleAsync(upload);
        await upload.AcknowledgeSampleAsync();
        await upload.SettleAsync();
        time.Advance(timeout);
        await client.ExpectConnectionClosedAsync();
    }
}
