using CsCheck;
using H2Middleware.Scheduling;

namespace H2Middleware.Tests.Scheduling;

public class Rfc9218WriteSchedulerTests
{
    [Fact]
    public void MoreUrgentStreamsAreServedFirst()
    {
        var scheduler = new Rfc9218WriteScheduler();
        Enqueue(scheduler, new(1, urgency: 5), new(3, urgency: 0), new(5, urgency: 7), new(7), new(9, urgency: 1, incremental: true));

        Assert.Equal([3, 9, 7, 1, 5], Drain(scheduler));
    }

    [Fact]
    public void NonIncrementalStreamsOfOneUrgencyFinishOneAtATimeInStreamIdOrder()
    {
        var scheduler = new Rfc9218WriteScheduler();
        Enqueue(scheduler, new(7), new(3), new(5));

        Assert.Equal([3, 3, 3, 5, 5, 5, 7, 7, 7], ServeUntilDone(scheduler, turnsEach: 3));
    }

    [Fact]
    public void IncrementalStreamsOfOneUrgencyTakeTurns()
    {
        var scheduler = new Rfc9218WriteScheduler();
        Enqueue(scheduler, new(5, 3, incremental: true), new(1, 3, incremental: true), new(3, 3, incremental: true));

        Assert.Equal([5, 1, 3, 5, 1, 3, 5, 1, 3], ServeUntilDone(scheduler, turnsEach: 3));
    }

    [Fact]
    public void NonIncrementalAndIncrementalGroupsOfOneUrgencyAlternate()
    {
        var scheduler = new Rfc9218WriteScheduler();
        Enqueue(scheduler, new(1), new(3), new(5, 3, incremental: true), new(7, 3, incremental: true));

        Assert.Equal([1, 5, 1, 7, 3, 5, 3, 7], ServeUntilDone(scheduler, turnsEach: 2));
    }

    [Fact]
    public void NeitherGroupStarvesOverManyTurnsAndLessUrgentStreamsWait()
    {
        var scheduler = new Rfc9218WriteScheduler();
        FakeScheduledStream[] sequential = [new(1), new(3)];
        FakeScheduledStream[] incremental = [new(5, 3, incremental: true), new(7, 3, incremental: true), new(9, 3, incremental: true)];
        var lessUrgent = new FakeScheduledStream(11, urgency: 4);
        Enqueue(scheduler, [.. sequential, .. incremental, lessUrgent]);

        var turns = new Dictionary<int, int>();
        for (int turn = 0; turn < 10_000; turn++)
        {
            Assert.True(scheduler.TryDequeue(out IScheduledStream? stream));
            Assert.Equal(turn % 2 == 1, stream.EffectivePriority.Incremental);
            turns[stream.StreamId] = turns.GetValueOrDefault(stream.StreamId) + 1;
            scheduler.Enqueue(stream);
        }

        // The lowest id keeps the non-incremental turns; the incremental ones share theirs evenly.
        Assert.Equal(5_000, turns[1]);
        Assert.False(turns.ContainsKey(3));
        Assert.Equal([1_667, 1_667, 1_666], new[] { turns[5], turns[7], turns[9] });
        Assert.False(turns.ContainsKey(11));
    }

    [Fact]
    public void TheHandlersPriorityOverridesTheClients()
    {
        var scheduler = new Rfc9218WriteScheduler();
        var overridden = new FakeScheduledStream(1, urgency: 0) { HandlerPriority = new Http2Priority(6, incremental: false) };
        var promoted = new FakeScheduledStream(3, urgency: 7) { HandlerPriority = new Http2Priority(1, incremental: false) };
        Enqueue(scheduler, overridden, new(5, urgency: 2), promoted);

        Assert.Equal([3, 5, 1], Drain(scheduler));
    }

    [Fact]
    public void APriorityChangeMovesAQueuedStreamToItsNewUrgencyAtOnce()
    {
        var scheduler = new Rfc9218WriteScheduler();
        var late = new FakeScheduledStream(5);
        Enqueue(scheduler, new(1), new(3), late);

        late.ClientPriority = new Http2Priority(0, incremental: false);
        scheduler.OnPriorityChanged(late);

        Assert.Equal([5, 1, 3], Drain(scheduler));
    }

    [Fact]
    public void APriorityChangeMovesAQueuedStreamBetweenGroupsOfOneUrgency()
    {
        var scheduler = new Rfc9218WriteScheduler();
        var first = new FakeScheduledStream(1);
        Enqueue(scheduler, first, new(3));

        first.HandlerPriority = new Http2Priority(3, incremental: true);
        scheduler.OnPriorityChanged(first);

        // Non-incremental turns come first at a fresh urgency, so 3 goes before 1, which would otherwise lead.
        Assert.Equal([3, 1], Drain(scheduler));
    }

    [Fact]
    public void APriorityChangeOfAnUnqueuedStreamAppliesWhenItIsEnqueued()
    {
        var scheduler = new Rfc9218WriteScheduler();
        var waiting = new FakeScheduledStream(1, urgency: 6);
        scheduler.OnPriorityChanged(waiting);
        Assert.False(scheduler.TryDequeue(out _));

        waiting.ClientPriority = new Http2Priority(0, incremental: false);
        scheduler.OnPriorityChanged(waiting);
        Enqueue(scheduler, new(3, urgency: 1), waiting);

        Assert.Equal([1, 3], Drain(scheduler));
    }

    [Fact]
    public void APriorityChangeNotYetAnnouncedDoesNotLoseTheStream()
    {
        // The handler's priority changes on its own thread; the serve loop hears of it a little later.
        var scheduler = new Rfc9218WriteScheduler();
        var changing = new FakeScheduledStream(1, urgency: 2);
        var other = new FakeScheduledStream(3, urgency: 2);
        Enqueue(scheduler, changing, other);

        changing.HandlerPriority = new Http2Priority(5, incremental: true);
        scheduler.Remove(changing);

        Assert.Equal([3], Drain(scheduler));
    }

    [Fact]
    public void RemoveForgetsAQueuedStreamAndIgnoresOthers()
    {
        var scheduler = new Rfc9218WriteScheduler();
        FakeScheduledStream a = new(1), b = new(3, 3, incremental: true), c = new(5), neverQueued = new(7);
        Enqueue(scheduler, a, b, c);

        scheduler.Remove(neverQueued);
        Assert.True(scheduler.TryDequeue(out IScheduledStream? served));
        Assert.Same(a, served);
        scheduler.Remove(a);
        scheduler.Remove(b);
        scheduler.Remove(b);

        Assert.Equal([5], Drain(scheduler));
    }

    [Fact]
    public void RemovingAStreamFromTheMiddleKeepsTheOthersInStreamIdOrder()
    {
        var scheduler = new Rfc9218WriteScheduler();
        var middle = new FakeScheduledStream(21);
        Enqueue(scheduler, new(1), new(19), new(5), middle, new(23), new(7), new(9));

        scheduler.Remove(middle);

        Assert.Equal([1, 5, 7, 9, 19, 23], Drain(scheduler));
    }

    [Fact]
    public void AStreamEnqueuedAgainAfterItsTurnRejoinsInStreamIdOrder()
    {
        var scheduler = new Rfc9218WriteScheduler();
        var first = new FakeScheduledStream(1);
        Enqueue(scheduler, first);
        Assert.True(scheduler.TryDequeue(out _));

        // Blocked on flow control while later streams queued up, then able to send again.
        Enqueue(scheduler, new(3), new(5), first);

        Assert.Equal([1, 3, 5], Drain(scheduler));
    }

    [Fact]
    public void SteadyStateTurnsAllocateNothing()
    {
        var scheduler = new Rfc9218WriteScheduler();
        Enqueue(scheduler, [.. Enumerable.Range(0, 64).Select(i => new FakeScheduledStream((2 * i) + 1, i % 8, incremental: i % 3 == 0))]);
        ServeBusyStreams(scheduler, turns: 1_000);

        long before = GC.GetAllocatedBytesForCurrentThread();
        ServeBusyStreams(scheduler, turns: 1_000);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void AConnectionThatUsesOneUrgencyPaysForThatLevelOnly()
    {
        var stream = new FakeScheduledStream(1, 3, incremental: false);
        ServeOnce(new Rfc9218WriteScheduler(), stream);

        long before = GC.GetAllocatedBytesForCurrentThread();
        IScheduledStream? served = ServeOnce(new Rfc9218WriteScheduler(), stream);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Same(stream, served);
        // The scheduler, one level with its heap and turn queue, one queue entry: eight levels made up front took 1.2 KB.
        Assert.InRange(allocated, 1, 512);
    }

    [Fact]
    public void AnIdleReleaseKeepsWhatIsQueuedAndAfterItStreamsAreServedAsBefore()
    {
        var scheduler = new Rfc9218WriteScheduler();
        IIdleMemoryRelease release = scheduler;
        Enqueue(scheduler, new(5, 3, incremental: false), new(3, 3, incremental: false), new(7, 0, incremental: true));

        // Not idle: nothing is let go.
        release.ReleaseIdleMemory();
        Assert.Equal([7, 3, 5], Drain(scheduler));

        release.ReleaseIdleMemory();
        Enqueue(scheduler, new(13, 3, incremental: false), new(11, 3, incremental: false), new(9, 1, incremental: true));
        Assert.Equal([9, 11, 13], Drain(scheduler));
    }

    private enum OperationKind
    {
        Enqueue,
        Dequeue,
        Remove,
        ChangeClientPriority,
        ChangeHandlerPriority,
    }

    private sealed record Operation(OperationKind Kind, int Stream, int Urgency, bool Incremental, bool ClearHandlerPriority);

    private const int StreamCount = 16;

    private static readonly Gen<Operation[]> Operations = Gen.Select(
        Gen.Frequency(
            (4, OperationKind.Enqueue),
            (4, OperationKind.Dequeue),
            (2, OperationKind.Remove),
            (1, OperationKind.ChangeClientPriority),
            (1, OperationKind.ChangeHandlerPriority)),
        Gen.Int[0, StreamCount - 1],
        // Mostly one urgency and non-incremental, so that its id heap grows deep enough to exercise every path.
        Gen.Frequency((2, Gen.Const(3)), (1, Gen.Int[0, Http2Priority.MaxUrgency])),
        Gen.Frequency((3, Gen.Const(false)), (1, Gen.Const(true))),
        Gen.Bool,
        (kind, stream, urgency, incremental, clear) => new Operation(kind, stream, urgency, incremental, clear))
        .Array[0, 300];

    [Fact]
    public void AnySequenceOfOperationsServesTheMostUrgentStreamAndNeverLosesOrDuplicatesOne()
    {
        Operations.Sample(
            operations =>
            {
                var scheduler = new Rfc9218WriteScheduler();
                FakeScheduledStream[] streams = [.. Enumerable.Range(0, StreamCount).Select(i => new FakeScheduledStream((2 * i) + 1))];
                var queued = new HashSet<FakeScheduledStream>();
                var incrementalHadLastTurn = new bool[Http2Priority.MaxUrgency + 1];
                Array.Fill(incrementalHadLastTurn, true);

                foreach (Operation operation in operations)
                {
                    FakeScheduledStream stream = streams[operation.Stream];
                    var priority = new Http2Priority(operation.Urgency, operation.Incremental);
                    switch (operation.Kind)
                    {
                        case OperationKind.Enqueue when queued.Add(stream):
                            scheduler.Enqueue(stream);
                            break;
                        case OperationKind.Dequeue:
                            CheckTurn(scheduler, queued, incrementalHadLastTurn);
                            break;
                        case OperationKind.Remove:
                            queued.Remove(stream);
                            scheduler.Remove(stream);
                            break;
                        case OperationKind.ChangeClientPriority:
                            stream.ClientPriority = priority;
                            scheduler.OnPriorityChanged(stream);
                            break;
                        case OperationKind.ChangeHandlerPriority:
                            stream.HandlerPriority = operation.ClearHandlerPriority ? null : priority;
                            scheduler.OnPriorityChanged(stream);
                            break;
                    }
                }

                while (queued.Count > 0)
                {
                    CheckTurn(scheduler, queued, incrementalHadLastTurn);
                }

                Assert.False(scheduler.TryDequeue(out _));
            },
            iter: 2_000,
            print: operations => string.Join("; ", operations.Select(o => o.ToString())));
    }

    /// <summary>Takes a turn and checks it against the model: the most urgent level, the right group, the lowest id among non-incremental streams.</summary>
    private static void CheckTurn(Rfc9218WriteScheduler scheduler, HashSet<FakeScheduledStream> queued, bool[] incrementalHadLastTurn)
    {
        if (!scheduler.TryDequeue(out IScheduledStream? served))
        {
            Assert.Empty(queued);
            return;
        }

        var stream = (FakeScheduledStream)served;
        Assert.True(queued.Remove(stream), $"{stream} was served but not queued");

        Http2Priority priority = served.EffectivePriority;
        var sameUrgency = queued.Where(s => PriorityOf(s).Urgency == priority.Urgency).ToList();
        Assert.DoesNotContain(queued, s => PriorityOf(s).Urgency < priority.Urgency);
        if (sameUrgency.Any(s => PriorityOf(s).Incremental != priority.Incremental))
        {
            Assert.Equal(!incrementalHadLastTurn[priority.Urgency], priority.Incremental);
        }

        if (!priority.Incremental)
        {
            Assert.DoesNotContain(sameUrgency, s => !PriorityOf(s).Incremental && s.StreamId < stream.StreamId);
        }

        incrementalHadLastTurn[priority.Urgency] = priority.Incremental;

        static Http2Priority PriorityOf(IScheduledStream stream) => stream.EffectivePriority;
    }

    private static IScheduledStream? ServeOnce(IWriteScheduler scheduler, FakeScheduledStream stream)
    {
        scheduler.Enqueue(stream);
        scheduler.TryDequeue(out IScheduledStream? served);
        return served;
    }

    private static void Enqueue(IWriteScheduler scheduler, params FakeScheduledStream[] streams)
    {
        foreach (FakeScheduledStream stream in streams)
        {
            scheduler.Enqueue(stream);
        }
    }

    private static List<int> Drain(IWriteScheduler scheduler)
    {
        var order = new List<int>();
        while (scheduler.TryDequeue(out IScheduledStream? stream))
        {
            order.Add(stream.StreamId);
        }

        return order;
    }

    /// <summary>Plays the engine: each stream has <paramref name="turnsEach"/> turns of work and is enqueued again while it has some left.</summary>
    private static List<int> ServeUntilDone(IWriteScheduler scheduler, int turnsEach)
    {
        var left = new Dictionary<int, int>();
        var order = new List<int>();
        while (scheduler.TryDequeue(out IScheduledStream? stream))
        {
            order.Add(stream.StreamId);
            left[stream.StreamId] = left.GetValueOrDefault(stream.StreamId, turnsEach) - 1;
            if (left[stream.StreamId] > 0)
            {
                scheduler.Enqueue(stream);
            }
        }

        return order;
    }

    /// <summary>Plays the engine with streams that always have more to send.</summary>
    private static void ServeBusyStreams(IWriteScheduler scheduler, int turns)
    {
        for (int turn = 0; turn < turns; turn++)
        {
            Assert.True(scheduler.TryDequeue(out IScheduledStream? stream));
            scheduler.Enqueue(stream);
        }
    }
}
