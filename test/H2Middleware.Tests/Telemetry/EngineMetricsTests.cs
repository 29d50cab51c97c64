using System.Text;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using static H2Middleware.Tests.Telemetry.TestMeters;

namespace H2Middleware.Tests.Telemetry;

/// <summary>Each instrument of the H2Middleware Meter, measured on real connections of the serve loop.</summary>
public class EngineMetricsTests
{
    private static readonly (string, string) Sent = ("http2.direction", "sent");
    private static readonly (string, string) Received = ("http2.direction", "received");

    private static async Task<Http2TestClient> ConnectAsync(TestMeters meters, RequestDelegate handler, Action<Http2ServeLoopOptions>? configure = null, params Http2Setting[] settings)
    {
        Http2TestClient client = Http2TestClient.Start(handler, configure, metrics: meters.Metrics);
        await client.HandshakeAsync(settings);
        return client;
    }

    [Fact]
    public async Task ARequestCountsItsStreamItsFramesAndTheirBytes()
    {
        using var meters = new TestMeters();
        using MetricCollector<long> streams = meters.Collect<long>("h2middleware.server.streams");
        using MetricCollector<long> active = meters.Collect<long>("h2middleware.server.active_streams");
        using MetricCollector<double> duration = meters.Collect<double>("h2middleware.server.stream.duration");
        using MetricCollector<long> frames = meters.Collect<long>("h2middleware.server.frames");
        using MetricCollector<long> bytes = meters.Collect<long>("h2middleware.server.bytes");
        await using (Http2TestClient client = await ConnectAsync(meters, context => context.Response.WriteAsync("hello")))
        {
            await client.SendGetAsync(1);
            Assert.Equal("hello", (await client.ReadResponseAsync(1)).BodyText);
        }

        Assert.Equal(1, Sum(streams));
        Assert.Equal([1L, -1L], active.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.InRange(Assert.Single(duration.GetMeasurementSnapshot()).Value, 0, 10);
        Assert.Equal(1, Sum(frames, Received, ("http2.frame.type", "HEADERS")));
        Assert.Equal(1, Sum(frames, Sent, ("http2.frame.type", "HEADERS")));
        Assert.Equal(1, Sum(frames, Sent, ("http2.frame.type", "DATA")));
        Assert.Equal(2, Sum(frames, Received, ("http2.frame.type", "SETTINGS")));
        Assert.Equal(Http2FrameHeader.Size + 5, Sum(bytes, Sent, ("http2.frame.type", "DATA")));
        // Our SETTINGS and its ACK, both empty.
        Assert.Equal(2 * Http2FrameHeader.Size, Sum(bytes, Received, ("http2.frame.type", "SETTINGS")));
    }

    [Fact]
    public async Task AHeaderBlockCutIntoContinuationFramesCountsEachFrame()
    {
        using var meters = new TestMeters();
        using MetricCollector<long> frames = meters.Collect<long>("h2middleware.server.frames");
        using MetricCollector<long> bytes = meters.Collect<long>("h2middleware.server.bytes");
        await using Http2TestClient client = await ConnectAsync(meters, context =>
        {
            context.Response.Headers["x-large"] = new string('a', 40_000);
            return Task.CompletedTask;
        });

        await client.SendGetAsync(1);
        var received = new List<ReceivedFrame> { await client.ExpectAsync(Http2FrameType.Headers, 1) };
        while ((received[^1].Flags & Http2FrameFlags.EndHeaders) == 0)
        {
            received.Add(await client.ReadFrameAsync());
        }

        Assert.Equal(received.Count - 1, Sum(frames, Sent, ("http2.frame.type", "CONTINUATION")));
        Assert.True(received.Count > 1);
        Assert.Equal(
            received.Sum(frame => Http2FrameHeader.Size + frame.Payload.Length),
            Sum(bytes, Sent, ("http2.frame.type", "HEADERS")) + Sum(bytes, Sent, ("http2.frame.type", "CONTINUATION")));
    }

    [Fact]
    public async Task APushPromiseCutIntoContinuationFramesCountsEachFrame()
    {
        using var meters = new TestMeters();
        using MetricCollector<long> frames = meters.Collect<long>("h2middleware.server.frames");
        using MetricCollector<long> bytes = meters.Collect<long>("h2middleware.server.bytes");
        var promise = new List<ReceivedFrame>();
        await using (Http2TestClient client = await ConnectAsync(
            meters,
            async context =>
            {
                if (context.Request.Path == "/style.css")
                {
                    await context.Response.WriteAsync("x");
                    return;
                }

                await context.Features.Get<IHttp2ServerPushFeature>()!.PushAsync(
                    "/style.css", headers: new HeaderDictionary { ["x-large"] = new string('v', 40_000) });
                await context.Response.WriteAsync("page");
            },
            o => o.EnableServerPush = true))
        {
            await client.SendGetAsync(1);
            promise.Add(await client.ExpectAsync(Http2FrameType.PushPromise, 1));
            while ((promise[^1].Flags & Http2FrameFlags.EndHeaders) == 0)
            {
                promise.Add(await client.ReadFrameAsync());
            }

            await client.ReadResponsesAsync(1, 2);
        }

        Assert.True(promise.Count > 1);
        Assert.Equal(1, Sum(frames, Sent, ("http2.frame.type", "PUSH_PROMISE")));
        Assert.Equal(promise.Count - 1, Sum(frames, Sent, ("http2.frame.type", "CONTINUATION")));
        // The client's frames hold the header block: the PUSH_PROMISE's promised stream id is 4 octets more.
        Assert.Equal(
            promise.Sum(frame => Http2FrameHeader.Size + frame.Payload.Length) + 4,
            Sum(bytes, Sent, ("http2.frame.type", "PUSH_PROMISE")) + Sum(bytes, Sent, ("http2.frame.type", "CONTINUATION")));
    }

    [Fact]
    public async Task ResetsAreCountedEachWayWithTheirErrorCode()
    {
        using var meters = new TestMeters();
        using MetricCollector<long> resets = meters.Collect<long>("h2middleware.server.resets");
        using MetricCollector<long> clientErrors = meters.Collect<long>("h2middleware.server.client_errors");
        await using Http2TestClient client = await ConnectAsync(meters, context => Task.Delay(Timeout.Infinite, context.RequestAborted));

        await client.SendGetAsync(1);
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);
        await client.SendRawHeadersAsync(3, Http2TestClient.RequestHeaders("GET", "/", ("Upper-Case", "x")), endStream: true);
        await client.ExpectRstStreamAsync(3, Http2ErrorCode.ProtocolError);

        Assert.Equal(1, Sum(resets, Received, ("http2.error_code", "CANCEL")));
        Assert.Equal(1, Sum(resets, Sent, ("http2.error_code", "PROTOCOL_ERROR")));
        Assert.Equal(2, Sum(resets));
        Assert.Equal(1, Sum(clientErrors, ("h2middleware.reason", "InvalidRequestHeaders")));
    }

    [Fact]
    public async Task AGracefulShutdownSendsTwoGracefulGoAways()
    {
        using var meters = new TestMeters();
        using MetricCollector<long> goAways = meters.Collect<long>("h2middleware.server.goaways");
        await using Http2TestClient client = await ConnectAsync(meters, context => Task.CompletedTask);

        client.Connection.RequestClose();
        await client.ExpectGracefulGoAwayAsync();
        await client.ExpectConnectionClosedAsync();

        Assert.Equal(2, Sum(goAways, Sent, ("h2middleware.reason", "graceful")));
        Assert.Equal(2, Sum(goAways));
    }

    [Fact]
    public async Task AFailingGoAwayNamesItsConnectionEndReasonOrElseItsErrorCode()
    {
        using var meters = new TestMeters();
        using MetricCollector<long> goAways = meters.Collect<long>("h2middleware.server.goaways");
        await using (Http2TestClient budgetSpent = await ConnectAsync(meters, context => Task.CompletedTask, o => o.ClientErrorBudget = 0))
        {
            await budgetSpent.SendRawHeadersAsync(1, Http2TestClient.RequestHeaders("GET", "/", ("Upper-Case", "x")), endStream: true);
            await budgetSpent.ExpectGoAwayAsync(Http2ErrorCode.EnhanceYourCalm);
        }

        await using (Http2TestClient pingOnAStream = await ConnectAsync(meters, context => Task.CompletedTask))
        {
            await pingOnAStream.SendAsync(w => RawFrame(w, Http2FrameType.Ping, streamId: 1, new byte[8]));
            await pingOnAStream.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        }

        Assert.Equal(1, Sum(goAways, Sent, ("h2middleware.reason", "InvalidRequestHeaders")));
        Assert.Equal(1, Sum(goAways, Sent, ("h2middleware.reason", "ProtocolError")));
    }

    [Fact]
    public async Task AGoAwayFromTheClientIsCountedAsReceived()
    {
        using var meters = new TestMeters();
        using MetricCollector<long> goAways = meters.Collect<long>("h2middleware.server.goaways");
        await using Http2TestClient client = await ConnectAsync(meters, context => Task.CompletedTask);

        await client.SendGoAwayAsync(0, Http2ErrorCode.NoError);
        await client.ExpectGracefulGoAwayAsync();

        Assert.Equal(1, Sum(goAways, Received, ("h2middleware.reason", "graceful")));
    }

    [Fact]
    public async Task AStreamWaitingForAHandlerSlotIsQueuedUntilTheSlotFrees()
    {
        using var meters = new TestMeters();
        using MetricCollector<long> queued = meters.Collect<long>("h2middleware.server.queued_streams");
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using Http2TestClient client = await ConnectAsync(
            meters,
            async context =>
            {
                if (context.Request.Path == "/first")
                {
                    // The response ends the stream, but the handler keeps its slot.
                    await context.Response.CompleteAsync();
                    await release.Task;
                }
            },
            o => o.MaxStreamsPerConnection = 1);

        await client.SendGetAsync(1, "/first");
        await client.ReadResponseAsync(1);
        await client.SendGetAsync(3, "/second");
        await queued.WaitForMeasurementsAsync(1, Http2TestClient.DefaultTimeout);
        Assert.Equal(1, Sum(queued));

        release.SetResult();
        await client.ReadResponseAsync(3);
        Assert.Equal([1L, -1L], queued.GetMeasurementSnapshot().Select(m => m.Value));
    }

    [Fact]
    public async Task TheWriteSchedulerDepthIsSampledWhenAPassStartsGivingTurns()
    {
        using var meters = new TestMeters();
        using MetricCollector<int> depth = meters.Collect<int>("h2middleware.server.write_scheduler.queue_depth");
        using var handled = new CountdownEvent(4);
        await using Http2TestClient client = await ConnectAsync(
            meters,
            async context =>
            {
                await context.Response.WriteAsync("body");
                handled.Signal();
            },
            settings: new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));

        // With no stream window, each response sends its HEADERS and parks its DATA; one WINDOW_UPDATE each, read in
        // one batch, puts all four in the scheduler at once.
        for (int id = 1; id <= 7; id += 2)
        {
            await client.SendGetAsync(id);
            await client.ExpectAsync(Http2FrameType.Headers, id);
        }

        Assert.True(handled.Wait(Http2TestClient.DefaultTimeout));
        depth.Clear();
        await client.SendAsync(w =>
        {
            for (int id = 1; id <= 7; id += 2)
            {
                Http2FrameWriter.WriteWindowUpdate(w, id, 100);
            }
        });
        for (int id = 1; id <= 7; id += 2)
        {
            Assert.Equal("body", Encoding.UTF8.GetString((await client.ExpectAsync(Http2FrameType.Data, id)).Payload));
        }

        Assert.Equal(4, depth.GetMeasurementSnapshot()[0].Value);
    }

    private static void RawFrame(System.Buffers.IBufferWriter<byte> output, Http2FrameType type, int streamId, byte[] payload) =>
        H2Middleware.Tests.Attacks.RawHttp2Socket.WriteFrame(output, type, Http2FrameFlags.None, streamId, payload);

    [Fact]
    public async Task AStreamThatWaitedForWindowRecordsItsStallOnceWhenItCloses()
    {
        using var meters = new TestMeters();
        using MetricCollector<double> stalls = meters.Collect<double>("h2middleware.server.flow_control.stall");
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        await using Http2TestClient client = await ConnectAsync(
            meters,
            context => context.Response.Body.WriteAsync(new byte[3_000]).AsTask(),
            o =>
            {
                o.TimeProvider = time;
                o.MinResponseDataRate = null;
            },
            new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1_000));

        await client.SendGetAsync(1);
        await client.ExpectAsync(Http2FrameType.Headers, 1);
        await client.ExpectAsync(Http2FrameType.Data, 1);
        await client.SendPingAsync(3);
        while (await client.ReadFrameAsync() is not { Type: Http2FrameType.Ping, IsAck: true })
        {
        }

        time.Advance(TimeSpan.FromSeconds(2));
        await client.SendWindowUpdateAsync(1, 10_000);
        while (await client.ReadFrameAsync() is not { EndStream: true, StreamId: 1 })
        {
        }

        Assert.Equal(2.0, Assert.Single(stalls.GetMeasurementSnapshot()).Value);
    }
}
