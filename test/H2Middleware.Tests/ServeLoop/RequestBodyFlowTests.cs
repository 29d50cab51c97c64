using System.Buffers;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.ServeLoop;
using H2Middleware.Tests.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>Request bodies and their windows on their own: what is delivered, refunded, batched and dropped.</summary>
public class RequestBodyFlowTests
{
    private static (RequestBodyFlow Flow, ControlFrameQueue Frames, StreamEntry Stream) Start(long maxBuffered = 1 << 20)
    {
        var frames = new ControlFrameQueue();
        var tuner = new ReceiveWindowTuner(new LoopClock(TimeProvider.System), enabled: false, 1000, 1000, 1000, 1000);
        var flow = new RequestBodyFlow(connectionWindow: 1000, initialStreamWindow: 1000, maxBuffered, frames, tuner);
        StreamEntry stream = TestStreamEntries.Create();
        stream.Open(1, sendWindow: 1000, receiveWindow: 1000);
        return (flow, frames, stream);
    }

    private static List<(int StreamId, long Increment)> WindowUpdates(ControlFrameQueue frames)
    {
        var updates = new List<(int, long)>();
        while (frames.TryDequeue(out ControlFrame frame))
        {
            Assert.Equal(ControlFrameKind.WindowUpdate, frame.Kind);
            updates.Add((frame.StreamId, frame.Value));
        }

        return updates;
    }

    [Fact]
    public void ConsumedBytesComeBackInOneUpdateOnceHalfTheWindowIsFree()
    {
        (RequestBodyFlow flow, ControlFrameQueue frames, StreamEntry stream) = Start();
        Assert.True(flow.ConnectionWindow.TryReceive(600));
        Assert.True(stream.ReceiveWindow.TryReceive(600));
        Assert.True(flow.Deliver(stream, new ReadOnlySequence<byte>(new byte[600]), 600));

        flow.OnConsumed(stream, consumed: 300, examined: 300);
        flow.SendUpdateIfDue(stream);
        Assert.Empty(WindowUpdates(frames));

        flow.OnConsumed(stream, consumed: 600, examined: 600);
        Assert.Equal([(0, 600L), (1, 600L)], WindowUpdates(frames).OrderBy(u => u.StreamId));
    }

    [Fact]
    public void PaddingComesBackAtOnce()
    {
        (RequestBodyFlow flow, ControlFrameQueue frames, StreamEntry stream) = Start();
        flow.ConnectionWindow.TryReceive(600);
        stream.ReceiveWindow.TryReceive(600);

        Assert.True(flow.Deliver(stream, new ReadOnlySequence<byte>(new byte[10]), flowControlled: 600));
        Assert.Contains((0, 590L), WindowUpdates(frames));
        Assert.Equal(10, stream.RequestBodyDelivered);
    }

    [Fact]
    public void PastTheBufferLimitOnlyConsumedBytesAreRefunded()
    {
        (RequestBodyFlow flow, ControlFrameQueue frames, StreamEntry stream) = Start(maxBuffered: 100);
        flow.ConnectionWindow.TryReceive(800);
        stream.ReceiveWindow.TryReceive(800);
        flow.Deliver(stream, new ReadOnlySequence<byte>(new byte[800]), 800);

        // 750 unconsumed bytes are over the 100-byte limit: examining them all frees nothing beyond what was consumed.
        flow.OnConsumed(stream, consumed: 50, examined: 800);

        Assert.Equal(50, stream.RequestBodyReleased);
        Assert.Empty(WindowUpdates(frames));
    }

    [Fact]
    public void AStreamThatStopsReceivingGivesBackWhatItsPipeHeld()
    {
        (RequestBodyFlow flow, ControlFrameQueue frames, StreamEntry stream) = Start();
        flow.ConnectionWindow.TryReceive(700);
        stream.ReceiveWindow.TryReceive(700);
        flow.Deliver(stream, new ReadOnlySequence<byte>(new byte[700]), 700);

        flow.StopReceiving(stream);

        Assert.True(stream.DiscardingRequestBody);
        Assert.Equal([(0, 700L)], WindowUpdates(frames));
        Assert.True(flow.Deliver(stream, new ReadOnlySequence<byte>(new byte[10]), 10));
        Assert.Equal(700, stream.RequestBodyDelivered);
    }

    /// <summary>Receives <paramref name="bytes"/> on the stream (within its windows) and delivers them.</summary>
    private static void Receive(RequestBodyFlow flow, StreamEntry stream, int bytes)
    {
        Assert.True(flow.ConnectionWindow.TryReceive(bytes));
        Assert.True(stream.ReceiveWindow.TryReceive(bytes));
        Assert.True(flow.Deliver(stream, new ReadOnlySequence<byte>(new byte[bytes]), bytes));
        flow.SendUpdateIfDue(stream);
    }

    /// <summary>The queued WINDOW_UPDATEs, in order, and the data of the queued PINGs.</summary>
    private static (List<(int StreamId, long Increment)> Updates, List<ulong> Pings) Drain(ControlFrameQueue frames)
    {
        var updates = new List<(int, long)>();
        var pings = new List<ulong>();
        while (frames.TryDequeue(out ControlFrame frame))
        {
            if (frame.Kind == ControlFrameKind.Ping)
            {
                pings.Add(frame.PingData);
            }
            else
            {
                Assert.Equal(ControlFrameKind.WindowUpdate, frame.Kind);
                updates.Add((frame.StreamId, frame.Value));
            }
        }

        return (updates, pings);
    }

    /// <summary>
    /// Stream 3's handler reads; its upload makes two window samples: the first ACK starts the measure, and 700 bytes
    /// arrive before the second, against 1,000-byte stream windows (the clock does not move: a round trip and the time
    /// between ACKs count alike). Returns the second sample's PING data, acknowledged or not.
    /// </summary>
    private static ulong SampleOnAReadingStream(RequestBodyFlow flow, ControlFrameQueue frames, StreamEntry reading)
    {
        Receive(flow, reading, 600);
        flow.OnConsumed(reading, consumed: 600, examined: 600);
        Receive(flow, reading, 600);
        flow.OnPingAcknowledged(Assert.Single(Drain(frames).Pings), [reading]);
        Assert.Empty(Drain(frames).Updates);

        flow.OnConsumed(reading, consumed: 1200, examined: 1200);
        Receive(flow, reading, 700);
        ulong ping = Assert.Single(Drain(frames).Pings);
        return ping;
    }

    private static (RequestBodyFlow Flow, ControlFrameQueue Frames) StartAdaptive(long maxBuffered = 1 << 20)
    {
        var tuner = new ReceiveWindowTuner(new LoopClock(new FakeTimeProvider()), enabled: true, 10_000, 1000, maxConnectionWindow: 40_000, maxStreamWindow: 4000);
        var frames = new ControlFrameQueue();
        return (new RequestBodyFlow(10_000, initialStreamWindow: 1000, maxBuffered, frames, tuner), frames);
    }

    private static StreamEntry OpenStream(int streamId)
    {
        StreamEntry stream = TestStreamEntries.Create();
        stream.Open(streamId, sendWindow: 1000, receiveWindow: 1000);
        return stream;
    }

    [Fact]
    public void GrowthIsAnnouncedAtOnceForTheConnectionAndReadingStreamsAndWithTheNextRefundForOthers()
    {
        (RequestBodyFlow flow, ControlFrameQueue frames) = StartAdaptive();
        StreamEntry reading = OpenStream(3);
        StreamEntry notYetReading = OpenStream(5);
        ulong ping = SampleOnAReadingStream(flow, frames, reading);

        flow.OnPingAcknowledged(ping, [reading, notYetReading]);

        // The windows double from the smaller one, the streams': the connection's 10,000 bytes are more than that already.
        Assert.Equal([(3, 1000L)], Drain(frames).Updates);
        Assert.Equal(2000, reading.ReceiveWindow.Size);
        Assert.Equal(1000, notYetReading.ReceiveWindow.Size);

        Receive(flow, notYetReading, 500);
        flow.OnConsumed(notYetReading, consumed: 500, examined: 500);
        Assert.Contains((5, 1500L), Drain(frames).Updates);
        Assert.Equal(2000, notYetReading.ReceiveWindow.Size);
    }

    [Fact]
    public void AnAckThatIsNotTheSamplesGrowsNothing()
    {
        (RequestBodyFlow flow, ControlFrameQueue frames) = StartAdaptive();
        StreamEntry reading = OpenStream(3);
        ulong ping = SampleOnAReadingStream(flow, frames, reading);

        flow.OnPingAcknowledged(ping + 1, [reading]);
        flow.OnPingAcknowledged(KeepAlivePing.Data, [reading]);

        Assert.Empty(Drain(frames).Updates);
        Assert.Equal(1000, reading.ReceiveWindow.Size);
    }

    [Fact]
    public void AGrownWindowNeverLetsAStreamHoldMoreUnconsumedThanTheBufferLimitAndTheInitialWindow()
    {
        (RequestBodyFlow flow, ControlFrameQueue frames) = StartAdaptive(maxBuffered: 1000);
        StreamEntry reading = OpenStream(3);
        StreamEntry examining = OpenStream(1);
        Receive(flow, examining, 600);
        flow.OnConsumed(examining, consumed: 0, examined: 600);
        Assert.Equal(600, examining.RequestBodyReleased);
        ulong ping = SampleOnAReadingStream(flow, frames, reading);

        flow.OnPingAcknowledged(ping, [reading, examining]);

        // 600 bytes held, so the window grows to 1,400, not 2,000: the client can send 2,000 bytes beyond what was consumed.
        Assert.Equal(1400, examining.ReceiveWindow.Size);
        Receive(flow, examining, 300);
        flow.OnConsumed(examining, consumed: 0, examined: 900);
        Assert.Equal(600, examining.RequestBodyReleased);
        Assert.Equal(2000, examining.RequestBodyReleased - examining.RequestBodyConsumed + examining.ReceiveWindow.Size);

        // Consumed bytes still come back.
        flow.OnConsumed(examining, consumed: 900, examined: 900);
        Assert.Equal(900, examining.RequestBodyReleased);
    }

    [Fact]
    public void ARunOfEmptyFramesIsAConnectionError()
    {
        (RequestBodyFlow flow, _, _) = Start();
        for (int i = 0; i < 100; i++)
        {
            flow.CountFrame(empty: true);
        }

        flow.CountFrame(empty: false);
        for (int i = 0; i < 100; i++)
        {
            flow.CountFrame(empty: true);
        }

        Assert.Throws<Http2ConnectionException>(() => flow.CountFrame(empty: true));
    }
}
