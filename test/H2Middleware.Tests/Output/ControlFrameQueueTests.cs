using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Protocol;

namespace H2Middleware.Tests.Output;

/// <summary>The frames owed to the client on their own: order, the flood limit, and GOAWAY past it.</summary>
public class ControlFrameQueueTests
{
    [Fact]
    public void FramesLeaveInOrderAndAFloodIsAConnectionError()
    {
        var queue = new ControlFrameQueue();
        queue.Enqueue(new ControlFrame(ControlFrameKind.PingAck, PingData: 1));
        queue.Enqueue(new ControlFrame(ControlFrameKind.RstStream, 3, (long)Http2ErrorCode.Cancel));

        Assert.True(queue.TryDequeue(out ControlFrame first));
        Assert.Equal(ControlFrameKind.PingAck, first.Kind);
        Assert.True(queue.TryDequeue(out ControlFrame second));
        Assert.Equal(3, second.StreamId);
        Assert.False(queue.HasFrames);

        for (int i = 0; i < 10_000; i++)
        {
            queue.Enqueue(new ControlFrame(ControlFrameKind.SettingsAck));
        }

        var flood = Assert.Throws<Http2ConnectionException>(() => queue.Enqueue(new ControlFrame(ControlFrameKind.SettingsAck)));
        Assert.Equal(Http2ErrorCode.EnhanceYourCalm, flood.ErrorCode);

        // The answer to a flood still fits.
        queue.EnqueueGoAway(Http2ErrorCode.EnhanceYourCalm, 0, "ControlFrameFlood");
        Assert.Equal("ControlFrameFlood", queue.GoAwayDebugData);
    }

    [Fact]
    public void ReleasingTheBufferKeepsOwedFramesAndLaterFramesStillLeaveInOrder()
    {
        var queue = new ControlFrameQueue();
        queue.Enqueue(new ControlFrame(ControlFrameKind.PingAck, PingData: 1));
        queue.ReleaseBuffer();
        Assert.True(queue.TryDequeue(out ControlFrame owed));
        Assert.Equal(1UL, owed.PingData);

        queue.ReleaseBuffer();
        Assert.False(queue.HasFrames);
        queue.Enqueue(new ControlFrame(ControlFrameKind.PingAck, PingData: 2));
        queue.Enqueue(new ControlFrame(ControlFrameKind.PingAck, PingData: 3));

        Assert.True(queue.TryDequeue(out ControlFrame first));
        Assert.True(queue.TryDequeue(out ControlFrame second));
        Assert.Equal((2UL, 3UL), (first.PingData, second.PingData));
    }
}
