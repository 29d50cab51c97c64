using H2Middleware.Frames;
using H2Middleware.ServeLoop;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// Adaptive receive windows on the wire: PINGs sample the round trip, and the ACK of a sample that finds the client held
/// back by its window grows the windows, never past the maximum; with the switch off (or without ACKs) the windows are
/// as they always were. Windows of 65,535 bytes and frames of 16 KiB: the second frame to a reading handler leaves half
/// a window used, which starts a sample. The first ACK starts the measure; at the next, the DATA since then times the
/// round trip over the time between the ACKs estimates what the client sends in a round trip, and two fifths of the
/// window (26,214 bytes) mean the window may be what limits it. The clock is a fake one that moves only when a test
/// moves it: a round trip then counts as much as the time between ACKs.
/// </summary>
public class AdaptiveReceiveWindowTests
{
    private const int Window = 65_535;

    private static async Task<(Http2TestClient Client, WindowedUpload Upload, FakeTimeProvider Time)> StartUploadAsync(Action<Http2ServeLoopOptions>? configure = null)
    {
        var time = new FakeTimeProvider();
        void Configure(Http2ServeLoopOptions options)
        {
            options.InitialStreamWindowSize = Window;
            options.InitialConnectionWindowSize = Window;
            options.TimeProvider = time;
            configure?.Invoke(options);
        }

        var options = new Http2ServeLoopOptions();
        Configure(options);
        var upload = new WindowedUpload();
        Http2TestClient client = await Http2TestClient.ConnectAsync(upload.Handler, Configure);
        await upload.StartAsync(client, options);
        return (client, upload, time);
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

    /// <summary>A first sample, acknowledged: it starts the measure. Returns how much had been sent then.</summary>
    private static async Task<long> StartMeasureAsync(WindowedUpload upload)
    {
        await SendUntilSampleAsync(upload);
        await upload.AcknowledgeSampleAsync();
        await upload.SettleAsync();
        Assert.Equal(Window, upload.LargestConnectionWindow);
        return upload.Sent;
    }

    [Fact]
    public async Task ASampleStartsOnceTheClientOfAReadingHandlerHasUsedHalfAWindow()
    {
        (Http2TestClient client, WindowedUpload upload, _) = await StartUploadAsync();
        await using Http2TestClient connection = client;

        await upload.SendAsync(WindowedUpload.FrameSize);
        await upload.SettleAsync();
        Assert.Empty(upload.SamplePings);

        await upload.SendAsync(WindowedUpload.FrameSize);
        await upload.SettleAsync();
        Assert.Equal(ReceiveWindowTuner.PingDataPrefix, Assert.Single(upload.SamplePings) & 0xFFFF_FFFF_FF00_0000);
    }

    [Fact]
    public async Task TheAckOfASampleThatFindsTheClientHeldBackGrowsTheWindows()
    {
        (Http2TestClient client, WindowedUpload upload, _) = await StartUploadAsync();
        await using Http2TestClient connection = client;
        long measureStart = await StartMeasureAsync(upload);
        await SendUntilSampleAsync(upload);
        int updatesBefore = upload.WindowUpdates.Count;

        await upload.SendAsync(3 * WindowedUpload.FrameSize);
        await upload.AcknowledgeSampleAsync();
        await upload.SettleAsync();

        // More than a window since the first ACK: both windows grow to twice that, announced at once.
        long estimate = upload.Sent - measureStart;
        Assert.True(estimate > Window);
        List<(int StreamId, int Increment)> updates = upload.WindowUpdates[updatesBefore..];
        Assert.Contains((0, (int)(2 * estimate) - Window), updates);
        Assert.Contains((1, (int)(2 * estimate) - Window), updates);
        Assert.True(upload.LargestConnectionWindow > Window);
        Assert.True(upload.LargestStreamWindow > Window);

        await upload.SendAsync(200_000, endStream: true);
        Assert.Equal(upload.Sent.ToString(), (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task TheAckOfASampleThatFindsTheClientNotHeldBackGrowsNothing()
    {
        (Http2TestClient client, WindowedUpload upload, FakeTimeProvider time) = await StartUploadAsync();
        await using Http2TestClient connection = client;
        await StartMeasureAsync(upload);

        // Two frames in the second between the ACKs, against a round trip that takes no time: far from a window.
        time.Advance(TimeSpan.FromSeconds(1));
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
        const int maximum = 100_000;
        (Http2TestClient client, WindowedUpload upload, _) = await StartUploadAsync(o => o.MaxReceiveWindowSize = maximum);
        await using Http2TestClient connection = client;
        await StartMeasureAsync(upload);

        // More than a window since the first ACK would double the windows; the maximum stops them at 100,000.
        await SendUntilSampleAsync(upload);
        await upload.SendAsync(Window);
        await upload.AcknowledgeSampleAsync();
        await upload.SettleAsync();
        Assert.Contains((0, maximum - Window), upload.WindowUpdates);
        Assert.Contains((1, maximum - Window), upload.WindowUpdates);

        int samples = upload.SamplePings.Count;
        await upload.SendAsync(1_000_000);
        await upload.SettleAsync();

        Assert.Equal(samples, upload.SamplePings.Count);
        Assert.InRange(upload.LargestConnectionWindow, Window + 1, maximum);
        Assert.InRange(upload.LargestStreamWindow, Window + 1, maximum);
    }

    [Fact]
    public async Task WithoutAcksTheWindowUpdatesAreThoseOfFixedWindowsAndWithTheSwitchOffNoPingIsSent()
    {
        async Task<WindowedUpload> UploadAsync(bool adaptive)
        {
            (Http2TestClient client, WindowedUpload upload, _) = await StartUploadAsync(o => o.EnableAdaptiveReceiveWindows = adaptive);
            await using Http2TestClient connection = client;
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
        TimeSpan delay = TimeSpan.FromSeconds(10);
        TimeSpan timeout = TimeSpan.FromSeconds(5);
        (Http2TestClient client, WindowedUpload upload, FakeTimeProvider time) = await StartUploadAsync(o =>
        {
            o.KeepAlivePingDelay = delay;
            o.KeepAlivePingTimeout = timeout;
            o.MinRequestBodyDataRate = null;
        });
        await using Http2TestClient connection = client;
        await StartMeasureAsync(upload);
        await SendUntilSampleAsync(upload);

        // The keep-alive PING's ack does not end the sample: the sample's own ack, after a full window, still grows the
        // windows (its round trip, the 10 s the clock moved, is also the time between the ACKs).
        time.Advance(delay);
        await upload.ExpectPingAsync(KeepAlivePing.Data);
        await client.SendPingAsync(KeepAlivePing.Data, ack: true);
        await upload.SendAsync(3 * WindowedUpload.FrameSize);
        await upload.AcknowledgeSampleAsync();
        await upload.SettleAsync();
        Assert.True(upload.LargestConnectionWindow > Window);

        // The sample's ack does not answer the keep-alive PING: without its own ack the client is gone. (The next sample
        // may start a round trip after the last ACK: 10 s again.)
        time.Advance(delay);
        await upload.ExpectPingAsync(KeepAlivePing.Data);
        await SendUntilSampleAsync(upload);
        await upload.AcknowledgeSampleAsync();
        await upload.SettleAsync();
        time.Advance(timeout);
        await client.ExpectConnectionClosedAsync();
    }
}
