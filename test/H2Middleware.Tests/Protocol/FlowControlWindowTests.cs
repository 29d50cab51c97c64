using H2Middleware.Frames;
using H2Middleware.Protocol;

namespace H2Middleware.Tests.Protocol;

/// <summary>The flow-control windows on their own (RFC 9113 §6.9).</summary>
public class FlowControlWindowTests
{
    [Fact]
    public void AnInboundWindowTakesWhatFitsAndRefusesMore()
    {
        var window = new InboundWindow(100);

        Assert.True(window.TryReceive(60));
        Assert.False(window.TryReceive(41));
        Assert.Equal(40, window.Available);
        Assert.True(window.TryReceive(40));
        Assert.Equal(0, window.Available);
    }

    [Fact]
    public void FreedBytesGoBackInOneUpdateOnceTheyReachHalfTheWindow()
    {
        var window = new InboundWindow(100);
        Assert.True(window.TryReceive(100));

        window.Free(30);
        Assert.Equal(0, window.TakeDueUpdate());
        Assert.Equal(0, window.Available);

        window.Free(20);
        Assert.Equal(50, window.TakeDueUpdate());
        Assert.Equal(50, window.Available);
        Assert.Equal(0, window.TakeDueUpdate());
    }

    [Fact]
    public void ResetStartsAFreshInboundWindow()
    {
        var window = new InboundWindow(100);
        Assert.True(window.TryReceive(80));
        window.Free(10);

        window.Reset(200);

        Assert.Equal(200, window.Available);
        window.Free(99);
        Assert.Equal(0, window.TakeDueUpdate());
    }

    [Fact]
    public void AnInboundWindowGrowsAtOnceOrWithItsNextDueUpdate()
    {
        var window = new InboundWindow(100);
        Assert.True(window.TryReceive(60));
        Assert.True(window.IsHalfUsed);

        window.GrowTo(300);
        window.GrowTo(200);
        Assert.Equal((100, 300), (window.Size, window.TargetSize));

        window.Free(40);
        Assert.Equal(0, window.TakeDueUpdate());
        window.Free(10);
        Assert.Equal(250, window.TakeDueUpdate());
        Assert.Equal((290, 300), (window.Available, window.Size));
        Assert.False(window.IsHalfUsed);

        window.GrowTo(400);
        Assert.Equal(100, window.TakeGrowth());
        Assert.Equal((390, 400), (window.Available, window.Size));
        Assert.Equal(0, window.TakeGrowth());
    }

    [Fact]
    public void AnOutboundWindowNeverExceedsTheMaximum()
    {
        var window = new OutboundWindow(Http2Limits.MaxWindowSize - 10);

        Assert.False(window.TryIncrease(11));
        Assert.Equal(Http2Limits.MaxWindowSize - 10, window.Available);
        Assert.True(window.TryIncrease(10));
        Assert.Equal(Http2Limits.MaxWindowSize, window.Available);
    }

    [Fact]
    public void AnInitialSizeChangeMayTakeAnOutboundWindowNegativeButNotPastTheMaximum()
    {
        var window = new OutboundWindow(65_535);
        window.Consume(60_000);

        Assert.True(window.TryApplyInitialSizeChange(-65_535));
        Assert.Equal(-60_000, window.Available);
        Assert.True(window.TryApplyInitialSizeChange(100_000));
        Assert.Equal(40_000, window.Available);
        Assert.False(window.TryApplyInitialSizeChange(Http2Limits.MaxWindowSize));
        Assert.Equal(40_000, window.Available);
    }
}
