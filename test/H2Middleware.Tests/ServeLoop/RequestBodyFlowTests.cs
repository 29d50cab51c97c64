using System.Buffers;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.ServeLoop;
using H2Middleware.Tests.Protocol;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>Request bodies and their windows on their own: what is delivered, refunded, batched and dropped.</summary>
public class RequestBodyFlowTests
{
    private static (RequestBodyFlow Flow, ControlFrameQueue Frames, StreamEntry Stream) Start(long maxBuffered = 1 << 20)
    {
        var frames = new ControlFrameQueue();
        var flow = new RequestBodyFlow(connectionWindow: 1000, maxBuffered, frames);
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
