using System.Diagnostics.Metrics;
using H2Middleware.Frames;
using H2Middleware.ServeLoop;
using H2Middleware.Telemetry;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http.Features;
using Xunit.Abstractions;

namespace H2Middleware.Tests.Telemetry;

/// <summary>
/// Metrics cost a request no allocation. Exactly, on one thread: every recording the serve loop makes allocates
/// nothing, without a listener and with one. Then over whole requests, every thread counted: N requests allocate as
/// much with all of the engine's instruments listened to as with none.
/// </summary>
[Collection(SoloCollection.Name)]
public class MetricsAllocationTests(ITestOutputHelper output)
{
    private static readonly byte[] Body = "hello"u8.ToArray();

    /// <summary>Each recording the serve loop makes for a request, and for the rarer events, in one round.</summary>
    private static void RecordARound(ConnectionMetrics metrics, int streamId)
    {
        var headers = Http2Frame.Plain(new Http2FrameHeader(40, Http2FrameType.Headers, Http2FrameFlags.EndHeaders, streamId), default);
        var reset = Http2Frame.WithErrorCode(new Http2FrameHeader(4, Http2FrameType.RstStream, Http2FrameFlags.None, streamId), 0, Http2ErrorCode.Cancel, default);
        var goAway = Http2Frame.WithErrorCode(new Http2FrameHeader(8, Http2FrameType.GoAway, Http2FrameFlags.None, 0), 0, Http2ErrorCode.NoError, default);
        metrics.FrameReceived(headers);
        metrics.StreamOpened(streamId);
        metrics.StreamQueued();
        metrics.StreamsLeftQueue(1);
        metrics.WritePassStarted(3);
        metrics.FrameSent(Http2FrameType.Headers, 30);
        metrics.FrameSent(Http2FrameType.Data, 5);
        metrics.StreamClosed(streamId);
        metrics.FrameReceived(reset);
        metrics.ResetSent(Http2ErrorCode.ProtocolError);
        metrics.ClientError(ConnectionEndReason.InvalidRequestHeaders);
        metrics.RecordStall(TimeSpan.FromMilliseconds(1));
        metrics.FrameReceived(goAway);
        metrics.GoAwaySent(Http2ErrorCode.EnhanceYourCalm, nameof(ConnectionEndReason.InvalidRequestHeaders));
    }

    private static long AllocatedByRounds(ConnectionMetrics metrics)
    {
        for (int id = 1; id < 200; id += 2)
        {
            RecordARound(metrics, id);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int id = 201; id < 20_000; id += 2)
        {
            RecordARound(metrics, id);
        }

        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>A listener to every instrument of the Meter that does nothing with what it hears (and so allocates nothing).</summary>
    private static MeterListener ListenToAll(Meter meter)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter == meter)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
        listener.SetMeasurementEventCallback<int>(static (_, _, _, _) => { });
        listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
        listener.Start();
        return listener;
    }

    [Fact]
    public void RecordingAllocatesNothingWithoutAListener()
    {
        using var meters = new TestMeters();
        var metrics = new ConnectionMetrics(meters.Metrics, new FeatureCollection(), TimeProvider.System);

        Assert.Equal(0, AllocatedByRounds(metrics));
    }

    [Fact]
    public void RecordingAllocatesNothingWithAListener()
    {
        using var meters = new TestMeters();
        var metrics = new ConnectionMetrics(meters.Metrics, new FeatureCollection(), TimeProvider.System);
        using MeterListener listener = ListenToAll(meters.Metrics.Streams.Meter);

        Assert.Equal(0, AllocatedByRounds(metrics));
    }

    [Fact]
    public async Task RequestsAllocateAsMuchWithTheInstrumentsListenedToAsWithout()
    {
        using var meters = new TestMeters();
        await using Http2TestClient client = Http2TestClient.Start(context => context.Response.Body.WriteAsync(Body).AsTask(), metrics: meters.Metrics);
        await client.HandshakeAsync();
        var batch = new RequestBatch(client, batchSize: 50);
        await batch.OpenWindowAsync();
        await batch.RunAsync(2_000);

        // Alternate the two, so that drift (the JIT's tiers, the pools' growth) falls on both; keep each one's least.
        const int Requests = 10_000;
        double without = double.MaxValue, with = double.MaxValue;
        for (int run = 0; run < 5; run++)
        {
            without = Math.Min(without, await batch.MeasureBytesPerRequestAsync(Requests));
            using (ListenToAll(meters.Metrics.Streams.Meter))
            {
                with = Math.Min(with, await batch.MeasureBytesPerRequestAsync(Requests));
            }
        }

        output.WriteLine($"bytes per request, server and test client: {without:F1} without a listener, {with:F1} with every instrument listened to");
        Assert.InRange(with - without, -8, 8);
    }
}
