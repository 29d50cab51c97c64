using H2Middleware.Scheduling;

namespace H2Middleware.Tests.Scheduling;

public class RandomWriteSchedulerTests
{
    [Fact]
    public void EveryQueuedStreamIsServedOnce()
    {
        var scheduler = new RandomWriteScheduler(seed: 1);
        FakeScheduledStream[] streams = Streams(50);
        Enqueue(scheduler, streams);

        List<int> order = Drain(scheduler);

        Assert.Equal(streams.Select(s => s.StreamId).Order(), order.Order());
        Assert.NotEqual(streams.Select(s => s.StreamId), order);
    }

    [Fact]
    public void StreamsThatKeepSendingShareTheTurnsEvenly()
    {
        var scheduler = new RandomWriteScheduler(seed: 2);
        Enqueue(scheduler, Streams(10));

        var turns = new Dictionary<int, int>();
        for (int turn = 0; turn < 10_000; turn++)
        {
            Assert.True(scheduler.TryDequeue(out IScheduledStream? stream));
            turns[stream.StreamId] = turns.GetValueOrDefault(stream.StreamId) + 1;
            scheduler.Enqueue(stream);
        }

        Assert.Equal(10, turns.Count);
        Assert.All(turns.Values, count => Assert.InRange(count, 850, 1_150));
    }

    [Fact]
    public void TheSameSeedGivesTheSameOrder()
    {
        List<int> first = RunSeeded(seed: 42);
        List<int> again = RunSeeded(seed: 42);
        List<int> other = RunSeeded(seed: 43);

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);

        static List<int> RunSeeded(int seed)
        {
            var scheduler = new RandomWriteScheduler(seed);
            Enqueue(scheduler, Streams(20));
            return Drain(scheduler);
        }
    }

    [Fact]
    public void RemoveForgetsAQueuedStreamAndIgnoresOthers()
    {
        var scheduler = new RandomWriteScheduler(seed: 3);
        FakeScheduledStream[] streams = Streams(6);
        Enqueue(scheduler, streams);
        var neverQueued = new FakeScheduledStream(99);

        Assert.True(scheduler.TryDequeue(out IScheduledStream? served));
        scheduler.Remove(served);
        scheduler.Remove(neverQueued);
        scheduler.Remove(streams[^1]);
        scheduler.Remove(streams[0]);
        scheduler.Remove(streams[0]);

        int[] expected = [.. streams.Where(s => s != served && s != streams[^1] && s != streams[0]).Select(s => s.StreamId).Order()];
        Assert.Equal(expected, Drain(scheduler).Order());
    }

    [Fact]
    public void AStreamCanBeEnqueuedAgainAfterItsTurn()
    {
        var scheduler = new RandomWriteScheduler(seed: 4);
        var only = new FakeScheduledStream(1);
        scheduler.Enqueue(only);

        Assert.True(scheduler.TryDequeue(out IScheduledStream? first));
        Assert.False(scheduler.TryDequeue(out _));
        scheduler.Enqueue(only);
        Assert.True(scheduler.TryDequeue(out IScheduledStream? second));

        Assert.Same(only, first);
        Assert.Same(only, second);
    }

    [Fact]
    public void SteadyStateTurnsAllocateNothing()
    {
        var scheduler = new RandomWriteScheduler(seed: 5);
        Enqueue(scheduler, Streams(64));
        TakeTurns(scheduler, 1_000);

        long before = GC.GetAllocatedBytesForCurrentThread();
        TakeTurns(scheduler, 1_000);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        static void TakeTurns(RandomWriteScheduler scheduler, int turns)
        {
            for (int turn = 0; turn < turns; turn++)
            {
                Assert.True(scheduler.TryDequeue(out IScheduledStream? stream));
                scheduler.Enqueue(stream);
            }
        }
    }

    private static FakeScheduledStream[] Streams(int count) => [.. Enumerable.Range(0, count).Select(i => new FakeScheduledStream((2 * i) + 1))];

    private static void Enqueue(IWriteScheduler scheduler, FakeScheduledStream[] streams)
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
}
