using H2Middleware.Protocol;

namespace H2Middleware.Tests.Protocol;

/// <summary>The connection's stream table on its own: counts, lookups, how closed streams are remembered, the pool.</summary>
public class StreamTableTests
{
    [Fact]
    public void OpenStreamsAreCountedAndFoundUntilTheyClose()
    {
        StreamTable table = TestStreamEntries.Table();
        StreamEntry first = table.Open(1, sendWindow: 100, receiveWindow: 200);
        table.Open(3, sendWindow: 100, receiveWindow: 200);

        Assert.Equal(2, table.OpenCount);
        Assert.Same(first, table.FindOpen(1));
        Assert.Equal(100, first.SendWindow.Available);
        Assert.Equal(200, first.ReceiveWindow.Available);

        Assert.True(first.Lifecycle.Apply(StreamEvent.ResetByClient));
        table.OnClosed(first);

        Assert.Equal(1, table.OpenCount);
        Assert.Null(table.FindOpen(1));
        Assert.True(table.TryGet(1, out StreamEntry? closed));
        Assert.Same(first, closed);
        Assert.Equal(StreamCloseCause.ResetByClient, table.CloseCauseOf(1));
    }

    [Fact]
    public void ReservedStreamsCountAsPushedNotAgainstTheClientsStreams()
    {
        StreamTable table = TestStreamEntries.Table();
        table.Open(1, 100, 100);
        StreamEntry pushed = table.Reserve(2, sendWindow: 300);

        Assert.Equal((2, 1, 1), (table.OpenCount, table.PushedCount, table.ClientOpenCount));
        Assert.Equal(StreamState.ReservedLocal, pushed.Lifecycle.State);
        Assert.Equal(300, pushed.SendWindow.Available);
        Assert.Same(pushed, table.FindOpen(2));

        pushed.Lifecycle.Apply(StreamEvent.ResetByClient);
        table.OnClosed(pushed);

        Assert.Equal((1, 0, 1), (table.OpenCount, table.PushedCount, table.ClientOpenCount));
    }

    [Fact]
    public void ARecycledEntryIsGoneFromTheTableButHowItClosedIsRemembered()
    {
        StreamTable table = TestStreamEntries.Table();
        StreamEntry stream = table.Open(1, 100, 100);
        stream.Lifecycle.Apply(StreamEvent.EndStreamReceived);
        stream.Lifecycle.Apply(StreamEvent.EndStreamSent);
        table.OnClosed(stream);
        table.Recycle(stream);

        Assert.False(table.TryGet(1, out _));
        Assert.Equal(StreamCloseCause.EndStream, table.CloseCauseOf(1));
        Assert.Equal(0, stream.StreamId);
        Assert.Equal(StreamState.Idle, stream.Lifecycle.State);
    }

    [Fact]
    public void OurResetsAreRememberedForIdsWithoutEntriesAndAreNotOverwrittenByTheClose()
    {
        StreamTable table = TestStreamEntries.Table();
        table.RememberReset(7);
        StreamEntry stream = table.Open(9, 100, 100);
        stream.Lifecycle.Apply(StreamEvent.ResetByServer);
        table.RememberReset(9);
        table.OnClosed(stream);

        Assert.Equal(StreamCloseCause.ResetByServer, table.CloseCauseOf(7));
        Assert.Equal(StreamCloseCause.ResetByServer, table.CloseCauseOf(9));
        Assert.Equal(StreamCloseCause.Unknown, table.CloseCauseOf(11));
    }

    [Fact]
    public void RecycledEntriesAreReusedUpToThePoolCapacity()
    {
        StreamTable table = TestStreamEntries.Table(poolCapacity: 1);
        StreamEntry[] streams = [table.Open(1, 10, 10), table.Open(3, 10, 10)];
        foreach (StreamEntry stream in streams)
        {
            stream.Lifecycle.Apply(StreamEvent.ResetByServer);
            table.OnClosed(stream);
            table.Recycle(stream);
        }

        StreamEntry reused = table.Open(5, 10, 10);
        StreamEntry fresh = table.Open(7, 10, 10);

        Assert.Same(streams[0], reused);
        Assert.DoesNotContain(fresh, streams);
    }

    [Fact]
    public void AReleasedPoolIsEmptyAndTheTableStillOpensStreamsAndRemembersClosedOnes()
    {
        StreamTable table = TestStreamEntries.Table();
        StreamEntry[] streams = [table.Open(1, 10, 10), table.Open(3, 10, 10)];
        foreach (StreamEntry stream in streams)
        {
            stream.Lifecycle.Apply(StreamEvent.ResetByClient);
            table.OnClosed(stream);
            table.Recycle(stream);
        }

        Assert.Equal(2, table.PooledCount);
        table.ReleasePool();
        Assert.Equal(0, table.PooledCount);

        StreamEntry fresh = table.Open(5, 10, 10);
        Assert.DoesNotContain(fresh, streams);
        Assert.Same(fresh, table.FindOpen(5));
        Assert.Equal(1, table.OpenCount);
        Assert.Equal(StreamCloseCause.ResetByClient, table.CloseCauseOf(3));
    }

    [Fact]
    public void AReleaseKeepsEntriesNotYetRecycled()
    {
        StreamTable table = TestStreamEntries.Table();
        StreamEntry closed = table.Open(1, 10, 10);
        closed.Lifecycle.Apply(StreamEvent.ResetByClient);
        table.OnClosed(closed);

        table.ReleasePool();

        Assert.True(table.TryGet(1, out StreamEntry? kept));
        Assert.Same(closed, kept);
    }

    [Fact]
    public void AnInitialWindowChangeAppliesToOpenStreamsAndFailsPastTheLimit()
    {
        StreamTable table = TestStreamEntries.Table();
        StreamEntry open = table.Open(1, 1_000, 10);
        StreamEntry closed = table.Open(3, 1_000, 10);
        closed.Lifecycle.Apply(StreamEvent.ResetByClient);
        table.OnClosed(closed);

        Assert.True(table.TryChangeSendWindows(-1_500));
        Assert.Equal(-500, open.SendWindow.Available);
        Assert.Equal(1_000, closed.SendWindow.Available);
        Assert.True(table.TryChangeSendWindows(1_000));
        Assert.Equal(500, open.SendWindow.Available);
        Assert.False(table.TryChangeSendWindows(int.MaxValue));
    }
}
