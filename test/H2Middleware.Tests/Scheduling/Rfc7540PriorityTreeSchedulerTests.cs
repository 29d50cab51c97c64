using H2Middleware.Scheduling;

namespace H2Middleware.Tests.Scheduling;

/// <summary>The RFC 7540 §5.3 priority tree scheduler on its own: placement, shares, reprioritisation, retention.</summary>
public partial class Rfc7540PriorityTreeSchedulerTests
{
    /// <summary>Opens a stream as HEADERS with priority fields does: opened, then its priority.</summary>
    private static FakeScheduledStream Open(Rfc7540PriorityTreeScheduler scheduler, int id, int dependsOn = 0, int weight = 16, bool exclusive = false)
    {
        var stream = new FakeScheduledStream(id);
        scheduler.OnStreamOpened(stream);
        scheduler.OnRfc7540Priority(id, dependsOn, weight, exclusive);
        return stream;
    }

    /// <summary>Takes turns as the engine does when every stream can always send more: each is enqueued again after its turn.</summary>
    private static List<int> Turns(Rfc7540PriorityTreeScheduler scheduler, int count)
    {
        var order = new List<int>(count);
        for (int i = 0; i < count; i++)
        {
            Assert.True(scheduler.TryDequeue(out IScheduledStream? stream));
            order.Add(stream.StreamId);
            scheduler.Enqueue(stream);
        }

        return order;
    }

    private static int ParentOf(Rfc7540PriorityTreeScheduler scheduler, int id) => scheduler.FindNode(id)!.Parent!.StreamId;

    private static int WeightOf(Rfc7540PriorityTreeScheduler scheduler, int id) => scheduler.FindNode(id)!.Weight;

    private static int[] ChildrenOf(Rfc7540PriorityTreeScheduler scheduler, int id)
    {
        PriorityTreeNode node = id == 0 ? scheduler.Root : scheduler.FindNode(id)!;
        var children = new List<int>();
        for (PriorityTreeNode? child = node.FirstChild; child is not null; child = child.NextSibling)
        {
            children.Add(child.StreamId);
        }

        children.Sort();
        return [.. children];
    }

    private static bool IsDueBefore(PriorityTreeNode a, PriorityTreeNode b) => (a.Pass, a.Ticket).CompareTo((b.Pass, b.Ticket)) < 0;

    /// <summary>
    /// The structure every operation must leave: each node reachable from the root exactly once (no cycle, no lost or
    /// shared node), links that agree both ways, weights 1 to 256, a node in its parent's heap exactly when something in
    /// its subtree can send, heaps in order, and the retained list holding exactly the stream-less nodes, within bound.
    /// </summary>
    private static void AssertTreeIsSound(Rfc7540PriorityTreeScheduler scheduler, int maxRetainedNodes)
    {
        PriorityTreeNode root = scheduler.Root;
        Assert.Null(root.Parent);
        Assert.False(root.IsReady);
        var reached = new HashSet<PriorityTreeNode> { root };
        var pending = new Stack<PriorityTreeNode>();
        pending.Push(root);
        int streamless = 0;
        while (pending.TryPop(out PriorityTreeNode? node))
        {
            int activeChildren = 0;
            PriorityTreeNode? previous = null;
            for (PriorityTreeNode? child = node.FirstChild; child is not null; child = child.NextSibling)
            {
                Assert.True(reached.Add(child), $"node {child.StreamId} is reached twice");
                Assert.Same(node, child.Parent);
                Assert.Same(previous, child.PreviousSibling);
                Assert.InRange(child.Weight, 1, 256);
                Assert.Same(child, scheduler.FindNode(child.StreamId));
                Assert.Equal(child.IsActive, child.HeapIndex >= 0);
                if (child.Stream is null)
                {
                    Assert.False(child.IsReady);
                    streamless++;
                }
                else
                {
                    Assert.Same(child, child.Stream.SchedulerState);
                }

                activeChildren += child.IsActive ? 1 : 0;
                pending.Push(child);
                previous = child;
            }

            Assert.Equal(activeChildren, node.ActiveChildren.Count);
            for (int i = 0; i < node.ActiveChildren.Count; i++)
            {
                PriorityTreeNode entry = node.ActiveChildren[i];
                Assert.Same(node, entry.Parent);
                Assert.Equal(i, entry.HeapIndex);
                Assert.False(i > 0 && IsDueBefore(entry, node.ActiveChildren[(i - 1) / ActiveChildHeap.Arity]), "heap out of order");
            }
        }

        Assert.Equal(scheduler.NodeCount + 1, reached.Count);
        Assert.Equal(streamless, scheduler.RetainedCount);
        Assert.InRange(scheduler.RetainedCount, 0, maxRetainedNodes);
        int listed = 0;
        for (PriorityTreeNode? retained = scheduler.OldestRetained; retained is not null; retained = retained.NewerRetained)
        {
            Assert.Null(retained.Stream);
            Assert.Contains(retained, reached);
            listed++;
        }

        Assert.Equal(scheduler.RetainedCount, listed);
    }

    [Fact]
    public void OnlyTheTreeAsksForRfc7540PrioritiesAndOtherSchedulersIgnoreTheirSignals()
    {
        IWriteScheduler roundRobin = new RoundRobinWriteScheduler();
        var stream = new FakeScheduledStream(1);
        roundRobin.OnStreamOpened(stream);
        roundRobin.OnRfc7540Priority(1, 0, 256, exclusive: true);
        roundRobin.Enqueue(stream);
        roundRobin.OnStreamClosed(3);

        Assert.True(new Rfc7540PriorityTreeScheduler().UsesRfc7540Priorities);
        Assert.False(roundRobin.UsesRfc7540Priorities);
        Assert.True(roundRobin.TryDequeue(out IScheduledStream? taken));
        Assert.Same(stream, taken);
    }

    [Fact]
    public void AStreamWithoutPriorityDependsOnTheRootWithWeight16AndSharesTurnsEqually()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler();
        var first = new FakeScheduledStream(1);
        var second = new FakeScheduledStream(3);
        scheduler.OnStreamOpened(first);
        scheduler.Enqueue(first);
        scheduler.Enqueue(second); // never announced as opened: still placed by default

        Assert.Equal(0, ParentOf(scheduler, 1));
        Assert.Equal(0, ParentOf(scheduler, 3));
        Assert.Equal(16, WeightOf(scheduler, 1));
        Assert.Equal(16, WeightOf(scheduler, 3));
        Assert.Equal([1, 3, 1, 3, 1, 3], Turns(scheduler, 6));
    }

    [Fact]
    public void Weights256And1ShareTurns256To1()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler();
        scheduler.Enqueue(Open(scheduler, 1, weight: 256));
        scheduler.Enqueue(Open(scheduler, 3, weight: 1));

        List<int> order = Turns(scheduler, 257 * 100);

        Assert.InRange(order.Count(id => id == 1), (256 * 100) - 2, (256 * 100) + 2);
        Assert.InRange(order.Count(id => id == 3), 100 - 2, 100 + 2);
    }

    [Fact]
    public void TurnsAreSharedByWeightAtEveryLevel()
    {
        // root ─┬─ 1 (w16)
        //       └─ 3 (w16, cannot send) ─┬─ 5 (w48)
        //                                 └─ 7 (w16)
        var scheduler = new Rfc7540PriorityTreeScheduler();
        scheduler.Enqueue(Open(scheduler, 1));
        Open(scheduler, 3);
        scheduler.Enqueue(Open(scheduler, 5, dependsOn: 3, weight: 48));
        scheduler.Enqueue(Open(scheduler, 7, dependsOn: 3, weight: 16));

        List<int> order = Turns(scheduler, 800);

        Assert.Equal(400, order.Count(id => id == 1));
        Assert.Equal(300, order.Count(id => id == 5));
        Assert.Equal(100, order.Count(id => id == 7));
    }

    [Fact]
    public void AnExclusiveDependencyAdoptsItsNewSiblings()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler();
        scheduler.Enqueue(Open(scheduler, 1));
        scheduler.Enqueue(Open(scheduler, 3));
        scheduler.Enqueue(Open(scheduler, 5, dependsOn: 0, exclusive: true));

        Assert.Equal([5], ChildrenOf(scheduler, 0));
        Assert.Equal([1, 3], ChildrenOf(scheduler, 5));
        Assert.Equal([5, 5, 5], Turns(scheduler, 3));
        AssertTreeIsSound(scheduler, Rfc7540PriorityTreeScheduler.DefaultMaxRetainedNodes);
    }

    /// <summary>RFC 7540 §5.3.3's example: A made dependent on its own descendant D.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AStreamMovedUnderItsOwnDescendantFirstLiftsThatDescendantToItsOldParent(bool exclusive)
    {
        // 1 ── A=3 ─┬─ B=5
        //           └─ C=7 ─┬─ D=9 ── F=13
        //                   └─ E=11
        var scheduler = new Rfc7540PriorityTreeScheduler();
        Open(scheduler, 1);
        Open(scheduler, 3, dependsOn: 1);
        Open(scheduler, 5, dependsOn: 3);
        Open(scheduler, 7, dependsOn: 3);
        Open(scheduler, 9, dependsOn: 7, weight: 40);
        Open(scheduler, 11, dependsOn: 7);
        Open(scheduler, 13, dependsOn: 9);

        scheduler.OnRfc7540Priority(3, 9, 77, exclusive);

        Assert.Equal([9], ChildrenOf(scheduler, 1));
        Assert.Equal(40, WeightOf(scheduler, 9));
        Assert.Equal(77, WeightOf(scheduler, 3));
        Assert.Equal([11], ChildrenOf(scheduler, 7));
        if (exclusive)
        {
            Assert.Equal([3], ChildrenOf(scheduler, 9));
            Assert.Equal([5, 7, 13], ChildrenOf(scheduler, 3));
        }
        else
        {
            Assert.Equal([3, 13], ChildrenOf(scheduler, 9));
            Assert.Equal([5, 7], ChildrenOf(scheduler, 3));
        }

        AssertTreeIsSound(scheduler, Rfc7540PriorityTreeScheduler.DefaultMaxRetainedNodes);
    }

    [Fact]
    public void AnExclusiveMoveUnderAnAncestorDoesNotMakeACycle()
    {
        // 1 ── 3 ── 5: 5 made the exclusive child of 1 must not adopt 3, which holds it, without first leaving it.
        var scheduler = new Rfc7540PriorityTreeScheduler();
        Open(scheduler, 1);
        Open(scheduler, 3, dependsOn: 1);
        Open(scheduler, 5, dependsOn: 3);

        scheduler.OnRfc7540Priority(5, 1, 16, exclusive: true);

        Assert.Equal([5], ChildrenOf(scheduler, 1));
        Assert.Equal([3], ChildrenOf(scheduler, 5));
        Assert.Empty(ChildrenOf(scheduler, 3));
        AssertTreeIsSound(scheduler, Rfc7540PriorityTreeScheduler.DefaultMaxRetainedNodes);
    }

    [Fact]
    public void AParentThatCanSendGoesBeforeItsChildren()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler();
        FakeScheduledStream parent = Open(scheduler, 1);
        scheduler.Enqueue(parent);
        scheduler.Enqueue(Open(scheduler, 3, dependsOn: 1));
        scheduler.Enqueue(Open(scheduler, 5, dependsOn: 1));

        Assert.Equal([1, 1, 1], Turns(scheduler, 3));
        scheduler.Remove(parent);
        Assert.Equal([3, 5, 3, 5], Turns(scheduler, 4));
        scheduler.Enqueue(parent);
        Assert.Equal([1], Turns(scheduler, 1));
    }

    [Fact]
    public void AClosedStreamKeepsItsChildrenWhileRetainedAndTheyShareItsTurnsByWeight()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler();
        Open(scheduler, 1, weight: 32);
        scheduler.Enqueue(Open(scheduler, 3, dependsOn: 1, weight: 16));
        scheduler.Enqueue(Open(scheduler, 5, dependsOn: 1, weight: 48));

        scheduler.OnStreamClosed(1);

        Assert.Equal([3, 5], ChildrenOf(scheduler, 1));
        Assert.Null(scheduler.FindNode(1)!.Stream);
        List<int> order = Turns(scheduler, 400);
        Assert.Equal(100, order.Count(id => id == 3));
        Assert.Equal(300, order.Count(id => id == 5));
    }

    [Fact]
    public void AnEvictedClosedStreamsChildrenMoveToItsParentSharingItsWeight()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler(maxRetainedNodes: 1);
        Open(scheduler, 1);
        Open(scheduler, 3, dependsOn: 1, weight: 32);
        scheduler.Enqueue(Open(scheduler, 5, dependsOn: 3, weight: 16));
        scheduler.Enqueue(Open(scheduler, 7, dependsOn: 3, weight: 48));
        scheduler.OnStreamClosed(3);
        Assert.Equal([5, 7], ChildrenOf(scheduler, 3));

        scheduler.OnRfc7540Priority(99, 0, 16, exclusive: false); // a newer retained node pushes 3 out

        Assert.Null(scheduler.FindNode(3));
        Assert.Equal([5, 7], ChildrenOf(scheduler, 1));
        Assert.Equal(8, WeightOf(scheduler, 5));
        Assert.Equal(24, WeightOf(scheduler, 7));
        List<int> order = Turns(scheduler, 400);
        Assert.Equal(100, order.Count(id => id == 5));
        Assert.Equal(300, order.Count(id => id == 7));
        AssertTreeIsSound(scheduler, 1);
    }

    [Fact]
    public void PriorityForAnIdleStreamIsKeptWhenItOpens()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler();
        Open(scheduler, 1);
        scheduler.OnRfc7540Priority(5, 1, 200, exclusive: false);

        var stream = new FakeScheduledStream(5);
        scheduler.OnStreamOpened(stream); // HEADERS without priority fields
        scheduler.Enqueue(stream);

        Assert.Equal(1, ParentOf(scheduler, 5));
        Assert.Equal(200, WeightOf(scheduler, 5));
        Assert.Equal(0, scheduler.RetainedCount);
        Assert.Equal([5], Turns(scheduler, 1));
    }

    [Fact]
    public void ADependencyOnAnUnknownStreamGivesTheDefaultPriority()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler();
        Open(scheduler, 1);
        Open(scheduler, 3);

        scheduler.OnRfc7540Priority(5, 99, 200, exclusive: true);
        Open(scheduler, 7, dependsOn: 41, weight: 3);

        Assert.Equal([1, 3, 5, 7], ChildrenOf(scheduler, 0));
        Assert.Equal(16, WeightOf(scheduler, 5));
        Assert.Equal(16, WeightOf(scheduler, 7));
        Assert.Null(scheduler.FindNode(99));
        AssertTreeIsSound(scheduler, Rfc7540PriorityTreeScheduler.DefaultMaxRetainedNodes);
    }

    [Fact]
    public void AFloodOfPriorityFramesForIdleStreamsKeepsTheTreeBoundedAndAllocatesNothingOnceFull()
    {
        const int MaxRetained = 200;
        var scheduler = new Rfc7540PriorityTreeScheduler(MaxRetained);
        FakeScheduledStream open = Open(scheduler, 1);
        scheduler.Enqueue(open);

        void Flood(int from, int count)
        {
            for (int i = from; i < from + count; i++)
            {
                int id = 3 + (2 * i);
                scheduler.OnRfc7540Priority(id, i % 3 == 0 ? 0 : id - 2, 1 + (i % 256), exclusive: i % 2 == 0);
            }
        }

        Flood(0, 1_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Flood(1_000, 99_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(MaxRetained, scheduler.RetainedCount);
        Assert.Equal(MaxRetained + 1, scheduler.NodeCount);
        Assert.Equal(0, allocated);
        AssertTreeIsSound(scheduler, MaxRetained);
        Assert.True(scheduler.TryDequeue(out IScheduledStream? taken));
        Assert.Same(open, taken);
    }

    [Fact]
    public void AGroupingNodeThatRequestsKeepNamingOutlivesAFloodOfClosedStreams()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler(maxRetainedNodes: 10);
        scheduler.OnRfc7540Priority(3, 0, 201, exclusive: false);
        scheduler.OnRfc7540Priority(5, 0, 101, exclusive: false);

        for (int id = 13; id < 1_013; id += 2)
        {
            FakeScheduledStream stream = Open(scheduler, id, dependsOn: id % 4 == 1 ? 3 : 5, weight: 22);
            scheduler.Enqueue(stream);
            Assert.True(scheduler.TryDequeue(out _));
            scheduler.OnStreamClosed(id);
        }

        Assert.Equal(0, ParentOf(scheduler, 3));
        Assert.Equal(201, WeightOf(scheduler, 3));
        Assert.Equal(101, WeightOf(scheduler, 5));
        Open(scheduler, 1_013, dependsOn: 5);
        Assert.Equal(5, ParentOf(scheduler, 1_013));
        AssertTreeIsSound(scheduler, 10);
    }

    [Fact]
    public void TurnsAllocateNothing()
    {
        var scheduler = new Rfc7540PriorityTreeScheduler();
        var streams = new[] { Open(scheduler, 1), Open(scheduler, 3, 1, 200), Open(scheduler, 5, 1, 3), Open(scheduler, 7, 5), Open(scheduler, 9, 0, 256) };
        foreach (FakeScheduledStream stream in streams[1..])
        {
            scheduler.Enqueue(stream);
        }

        Turns(scheduler, 1_000);
        // The loop runs once unmeasured first: the runtime may allocate while it recompiles a hot loop (tiering, OSR).
        TakeTurns(scheduler);
        long before = GC.GetAllocatedBytesForCurrentThread();
        TakeTurns(scheduler);

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static void TakeTurns(Rfc7540PriorityTreeScheduler scheduler)
    {
        for (int i = 0; i < 10_000; i++)
        {
            scheduler.TryDequeue(out IScheduledStream? stream);
            scheduler.Enqueue(stream!);
        }
    }
}
