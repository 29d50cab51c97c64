using H2Middleware.Scheduling;

namespace H2Middleware.Tests.Scheduling;

/// <summary>The priority tree under stress: hostile depths and floods, and each of Go's historical tree bugs.</summary>
public partial class Rfc7540PriorityTreeSchedulerTests
{
    [Fact]
    public void AHostileDepthDoesNotOverflowTheStack()
    {
        const int Depth = 10_000;
        var scheduler = new Rfc7540PriorityTreeScheduler(maxRetainedNodes: 0);
        FakeScheduledStream deepest = Open(scheduler, 1);
        for (int id = 3; id < 2 * Depth; id += 2)
        {
            deepest = Open(scheduler, id, dependsOn: id - 2);
        }

        scheduler.Enqueue(deepest);
        Assert.Equal([deepest.StreamId, deepest.StreamId], Turns(scheduler, 2));
        for (int id = 1; id < deepest.StreamId; id += 2)
        {
            scheduler.OnStreamClosed(id);
        }

        Assert.Equal([deepest.StreamId], ChildrenOf(scheduler, 0));
        AssertTreeIsSound(scheduler, 0);
    }

    [Fact]
    public void InvalidPrioritiesAreRefused()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler();

        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.OnRfc7540Priority(1, 0, 0, exclusive: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.OnRfc7540Priority(1, 0, 257, exclusive: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.OnRfc7540Priority(1, 1, 16, exclusive: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.OnRfc7540Priority(0, 1, 16, exclusive: false));
        Assert.Equal(0, scheduler.NodeCount);
    }

    /// <summary>
    /// Go's priority scheduler could leave a stream without a turn while a sibling always had data (golang/go#58804).
    /// Here the lightest sibling of the heaviest still gets its turn in every 257, and a sibling that pauses and comes
    /// back is served at once, then alternates, instead of waiting or being paid back for the pause.
    /// </summary>
    [Fact]
    public void GoBugStarvationASiblingOfAStreamThatAlwaysHasDataStillGetsItsTurns()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler();
        scheduler.Enqueue(Open(scheduler, 1, weight: 256));
        scheduler.Enqueue(Open(scheduler, 3, weight: 1));
        List<int> order = Turns(scheduler, 257 * 20);
        int last = -1;
        for (int turn = 0; turn < order.Count; turn++)
        {
            if (order[turn] == 3)
            {
                Assert.InRange(turn - last, 1, 258);
                last = turn;
            }
        }

        Assert.InRange(order.Count - last, 1, 258);

        scheduler = new Rfc7540PriorityTreeScheduler();
        scheduler.Enqueue(Open(scheduler, 1));
        FakeScheduledStream pausing = Open(scheduler, 3);
        scheduler.Enqueue(pausing);
        Assert.Equal([1, 3, 1], Turns(scheduler, 3));
        Assert.True(scheduler.TryDequeue(out IScheduledStream? paused));
        Assert.Same(pausing, paused);
        Assert.All(Turns(scheduler, 1_000), id => Assert.Equal(1, id));

        scheduler.Enqueue(pausing);

        Assert.Equal([3, 1, 3, 1, 3, 1], Turns(scheduler, 6));
    }

    /// <summary>
    /// Go kept weights as the wire byte (weight − 1) and added one where used, an easy place for 256 to wrap to 0 or
    /// for sums to overflow. Weight 256 is kept as 256, gives twice the share of 128, and survives being inherited.
    /// </summary>
    [Fact]
    public void GoBugWeightOverflowWeight256IsKeptAndCountedWhole()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler(maxRetainedNodes: 0);
        scheduler.Enqueue(Open(scheduler, 1, weight: 256));
        scheduler.Enqueue(Open(scheduler, 3, weight: 128));
        Assert.Equal(256, WeightOf(scheduler, 1));
        List<int> order = Turns(scheduler, 3_000);
        Assert.Equal(2_000, order.Count(id => id == 1));

        Open(scheduler, 5, weight: 256);
        Open(scheduler, 7, dependsOn: 5, weight: 256);
        scheduler.OnStreamClosed(5);
        Assert.Equal(256, WeightOf(scheduler, 7));

        Open(scheduler, 9, weight: 256);
        for (int id = 11; id < 11 + (2 * 300); id += 2)
        {
            Open(scheduler, id, dependsOn: 9, weight: 256); // children's weights sum to 76,800
        }

        scheduler.OnStreamClosed(9);
        for (int id = 11; id < 11 + (2 * 300); id += 2)
        {
            Assert.Equal(0, ParentOf(scheduler, id));
            Assert.Equal(1, WeightOf(scheduler, id));
        }

        AssertTreeIsSound(scheduler, 0);
    }

    /// <summary>
    /// Go's tree could be corrupted by reprioritisation (a stream moved under its own descendant, exclusive moves), leaving
    /// cycles or lost streams. Ten thousand seeded random operations — opens, closes, PRIORITY frames on idle, open,
    /// closed and unknown streams, queueing and turns — and after each, every node is reachable from the root exactly
    /// once, the heaps agree with the tree, and a stream served never has a queued ancestor.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(200)]
    public void GoBugTreeCorruptionRandomOperationsKeepTheTreeSound(int maxRetainedNodes)
    {
        var random = new Random(7540 + maxRetainedNodes);
        var scheduler = new Rfc7540PriorityTreeScheduler(maxRetainedNodes);
        var open = new List<FakeScheduledStream>();
        var queued = new HashSet<FakeScheduledStream>();
        int nextId = 1;

        int AnyId() => 1 + (2 * random.Next((nextId / 2) + 10));

        for (int operation = 0; operation < 10_000; operation++)
        {
            switch (random.Next(7))
            {
                case 0 when open.Count < 60:
                    FakeScheduledStream opened = new(nextId);
                    scheduler.OnStreamOpened(opened);
                    int dependsOn = random.Next(4) == 0 ? 0 : AnyId();
                    if (dependsOn != nextId)
                    {
                        scheduler.OnRfc7540Priority(nextId, dependsOn, random.Next(1, 257), random.Next(3) == 0);
                    }

                    open.Add(opened);
                    nextId += 2;
                    break;
                case 1 when open.Count > 0:
                    FakeScheduledStream closing = open[random.Next(open.Count)];
                    if (random.Next(2) == 0)
                    {
                        scheduler.Remove(closing);
                    }

                    scheduler.OnStreamClosed(closing.StreamId);
                    open.Remove(closing);
                    queued.Remove(closing);
                    break;
                case 2:
                case 3:
                    int subject = AnyId();
                    int parent = random.Next(5) == 0 ? 0 : AnyId();
                    if (parent != subject)
                    {
                        scheduler.OnRfc7540Priority(subject, parent, random.Next(1, 257), random.Next(3) == 0);
                    }

                    break;
                case 4 when open.Count > 0:
                    FakeScheduledStream ready = open[random.Next(open.Count)];
                    if (queued.Add(ready))
                    {
                        scheduler.Enqueue(ready);
                    }

                    break;
                case 5 when open.Count > 0:
                    FakeScheduledStream blocked = open[random.Next(open.Count)];
                    scheduler.Remove(blocked);
                    queued.Remove(blocked);
                    break;
                case 6:
                    bool took = scheduler.TryDequeue(out IScheduledStream? served);
                    Assert.Equal(queued.Count > 0, took);
                    if (took)
                    {
                        Assert.True(queued.Remove((FakeScheduledStream)served!), $"stream {served!.StreamId} was not queued");
                        for (PriorityTreeNode? above = scheduler.FindNode(served.StreamId)!.Parent; above is not null; above = above.Parent)
                        {
                            Assert.False(above.IsReady, $"stream {served.StreamId} was served before its ancestor {above.StreamId}");
                        }

                        if (random.Next(2) == 0)
                        {
                            queued.Add((FakeScheduledStream)served);
                            scheduler.Enqueue(served);
                        }
                    }

                    break;
            }

            AssertTreeIsSound(scheduler, maxRetainedNodes);
        }

        var drained = new HashSet<IScheduledStream>();
        while (scheduler.TryDequeue(out IScheduledStream? stream))
        {
            Assert.True(drained.Add(stream));
        }

        Assert.True(queued.SetEquals(drained.Cast<FakeScheduledStream>()));
    }

    /// <summary>
    /// Go's scheduler could crash, or later hand out a frame of a stream already gone, when a stream with queued data was
    /// reset (golang/go#17919, and retained closed nodes keeping stale queue state). Closing or removing a queued stream,
    /// in any order and more than once, throws nothing, and it is never served again.
    /// </summary>
    [Fact]
    public void GoBugResetWithQueuedDataAStreamClosedWhileQueuedIsNeverServedAgain()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler();
        FakeScheduledStream reset = Open(scheduler, 1, weight: 256);
        FakeScheduledStream other = Open(scheduler, 3);
        FakeScheduledStream child = Open(scheduler, 5, dependsOn: 1);
        scheduler.Enqueue(reset);
        scheduler.Enqueue(other);
        scheduler.Enqueue(child);

        scheduler.OnStreamClosed(1); // RST_STREAM: the engine may not have removed it first
        scheduler.Remove(reset);
        scheduler.OnStreamClosed(1);
        scheduler.Remove(new FakeScheduledStream(7));
        scheduler.OnStreamClosed(9);
        scheduler.OnRfc7540Priority(1, 3, 256, exclusive: true); // a late PRIORITY for the closed stream

        Assert.Null(reset.SchedulerState);
        Assert.DoesNotContain(1, Turns(scheduler, 100));
        Assert.Equal([1], ChildrenOf(scheduler, 3));
        Assert.Equal([5], ChildrenOf(scheduler, 1));
        AssertTreeIsSound(scheduler, Rfc7540PriorityTreeScheduler.DefaultMaxRetainedNodes);

        scheduler.OnStreamClosed(3);
        scheduler.OnStreamClosed(5);
        Assert.False(scheduler.TryDequeue(out _));
        AssertTreeIsSound(scheduler, Rfc7540PriorityTreeScheduler.DefaultMaxRetainedNodes);
    }
}
