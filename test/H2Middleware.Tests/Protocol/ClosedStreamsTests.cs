using H2Middleware.Protocol;

namespace H2Middleware.Tests.Protocol;

/// <summary>The closed-stream ring remembers up to its capacity, forgets the oldest beyond, and grows only as streams close.</summary>
public class ClosedStreamsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(64)]
    [InlineData(512)]
    public void RemembersTheLastCapacityStreamsAndForgetsOlderOnes(int capacity)
    {
        var closed = new ClosedStreams(capacity);
        int streams = (3 * capacity) + 5;
        for (int i = 0; i < streams; i++)
        {
            closed.Remember(StreamId(i), CauseOf(i));

            // A stream is remembered while it is among the last `capacity` to close, then forgotten.
            int oldestRemembered = Math.Max(0, i + 1 - capacity);
            if (oldestRemembered > 0)
            {
                Assert.Equal(StreamCloseCause.Unknown, closed.CauseOf(StreamId(oldestRemembered - 1)));
            }

            Assert.Equal(CauseOf(oldestRemembered), closed.CauseOf(StreamId(oldestRemembered)));
            Assert.Equal(CauseOf(i), closed.CauseOf(StreamId(i)));
        }

        for (int i = streams - capacity; i < streams; i++)
        {
            Assert.NotEqual(StreamCloseCause.Unknown, closed.CauseOf(StreamId(i)));
        }
    }

    [Fact]
    public void TheMostRecentCauseOfAnIdWins()
    {
        var closed = new ClosedStreams(512);
        Assert.Equal(StreamCloseCause.Unknown, closed.CauseOf(1));
        closed.Remember(1, StreamCloseCause.EndStream);
        closed.Remember(1, StreamCloseCause.ResetByServer);
        Assert.Equal(StreamCloseCause.ResetByServer, closed.CauseOf(1));
    }

    [Fact]
    public void AFewClosedStreamsCostAFewBytes()
    {
        new ClosedStreams(512).Remember(1, StreamCloseCause.EndStream);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var closed = new ClosedStreams(512);
        closed.Remember(1, StreamCloseCause.EndStream);
        closed.Remember(3, StreamCloseCause.EndStream);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // The ring object and two 8-entry arrays, where a ring of 512 ids and causes took 2.6 KB up front.
        Assert.InRange(allocated, 1, 256);
    }

    private static int StreamId(int index) => (2 * index) + 1;

    private static StreamCloseCause CauseOf(int index) => index % 2 == 0 ? StreamCloseCause.EndStream : StreamCloseCause.ResetByClient;
}
