using H2Middleware.Protocol;

namespace H2Middleware.Tests.Protocol;

/// <summary>The stream state machine of RFC 9113 §5.1 on its own.</summary>
public class StreamLifecycleTests
{
    private static StreamLifecycle Opened()
    {
        var lifecycle = new StreamLifecycle();
        Assert.False(lifecycle.Apply(StreamEvent.Opened));
        Assert.Equal(StreamState.Open, lifecycle.State);
        return lifecycle;
    }

    [Theory]
    [InlineData((int)StreamEvent.EndStreamReceived, (int)StreamEvent.EndStreamSent, (int)StreamState.HalfClosedRemote)]
    [InlineData((int)StreamEvent.EndStreamSent, (int)StreamEvent.EndStreamReceived, (int)StreamState.HalfClosedLocal)]
    public void BothEndsCloseTheStreamOnce(int firstEvent, int secondEvent, int halfClosedState)
    {
        // The types are internal: the cases come as numbers.
        var (first, second, halfClosed) = ((StreamEvent)firstEvent, (StreamEvent)secondEvent, (StreamState)halfClosedState);
        StreamLifecycle lifecycle = Opened();

        Assert.False(lifecycle.Apply(first));
        Assert.Equal(halfClosed, lifecycle.State);
        Assert.True(lifecycle.Apply(second));
        Assert.Equal(StreamState.Closed, lifecycle.State);
        Assert.Equal(StreamCloseCause.EndStream, lifecycle.CloseCause);
        Assert.False(lifecycle.WasReset);
        Assert.False(lifecycle.Apply(second));
    }

    [Theory]
    [InlineData((int)StreamEvent.ResetByClient, (int)StreamCloseCause.ResetByClient)]
    [InlineData((int)StreamEvent.ResetByServer, (int)StreamCloseCause.ResetByServer)]
    public void AResetClosesFromAnyOpenStateAndOnlyOnce(int resetEvent, int expectedCause)
    {
        var (reset, cause) = ((StreamEvent)resetEvent, (StreamCloseCause)expectedCause);
        foreach (StreamEvent before in new[] { StreamEvent.Opened, StreamEvent.EndStreamReceived, StreamEvent.EndStreamSent })
        {
            StreamLifecycle lifecycle = Opened();
            if (before != StreamEvent.Opened)
            {
                lifecycle.Apply(before);
            }

            Assert.True(lifecycle.Apply(reset));
            Assert.Equal(StreamState.Closed, lifecycle.State);
            Assert.Equal(cause, lifecycle.CloseCause);
            Assert.True(lifecycle.WasReset);
            Assert.False(lifecycle.Apply(StreamEvent.ResetByClient));
            Assert.False(lifecycle.Apply(StreamEvent.ResetByServer));
            Assert.Equal(cause, lifecycle.CloseCause);
        }
    }

    [Fact]
    public void ARepeatedEndChangesNothing()
    {
        StreamLifecycle lifecycle = Opened();
        lifecycle.Apply(StreamEvent.EndStreamReceived);

        Assert.False(lifecycle.Apply(StreamEvent.EndStreamReceived));
        Assert.Equal(StreamState.HalfClosedRemote, lifecycle.State);
        Assert.True(lifecycle.RemoteClosed);
        Assert.False(lifecycle.LocalClosed);
    }

    [Fact]
    public void ResetMakesTheLifecycleIdleAgain()
    {
        StreamLifecycle lifecycle = Opened();
        lifecycle.Apply(StreamEvent.ResetByClient);

        lifecycle.Reset();

        Assert.Equal(StreamState.Idle, lifecycle.State);
        Assert.Equal(StreamCloseCause.Unknown, lifecycle.CloseCause);
        Assert.False(lifecycle.Apply(StreamEvent.Opened));
        Assert.Equal(StreamState.Open, lifecycle.State);
    }

    [Fact]
    public void APushedStreamIsReservedUntilItsHeadersThenHalfClosedRemote()
    {
        var lifecycle = new StreamLifecycle();

        Assert.False(lifecycle.Apply(StreamEvent.Reserved));
        Assert.Equal(StreamState.ReservedLocal, lifecycle.State);
        Assert.True(lifecycle.RemoteClosed);
        Assert.False(lifecycle.LocalClosed);
        // RFC 9113 §5.1: from "reserved (local)" only our HEADERS, or a reset, moves it on.
        Assert.False(lifecycle.Apply(StreamEvent.Opened));
        Assert.False(lifecycle.Apply(StreamEvent.EndStreamReceived));
        Assert.Equal(StreamState.ReservedLocal, lifecycle.State);

        Assert.False(lifecycle.Apply(StreamEvent.HeadersSent));
        Assert.Equal(StreamState.HalfClosedRemote, lifecycle.State);
        Assert.False(lifecycle.Apply(StreamEvent.HeadersSent));
        Assert.True(lifecycle.Apply(StreamEvent.EndStreamSent));
        Assert.Equal(StreamCloseCause.EndStream, lifecycle.CloseCause);
    }

    [Theory]
    [InlineData((int)StreamEvent.ResetByClient, (int)StreamCloseCause.ResetByClient)]
    [InlineData((int)StreamEvent.ResetByServer, (int)StreamCloseCause.ResetByServer)]
    public void AReservedStreamClosesOnAReset(int resetEvent, int expectedCause)
    {
        var lifecycle = new StreamLifecycle();
        lifecycle.Apply(StreamEvent.Reserved);

        Assert.True(lifecycle.Apply((StreamEvent)resetEvent));
        Assert.Equal(StreamState.Closed, lifecycle.State);
        Assert.Equal((StreamCloseCause)expectedCause, lifecycle.CloseCause);
    }

    [Fact]
    public void HeadersSentChangesNothingOnAStreamTheClientOpened()
    {
        StreamLifecycle lifecycle = Opened();

        Assert.False(lifecycle.Apply(StreamEvent.HeadersSent));
        Assert.Equal(StreamState.Open, lifecycle.State);
    }
}
