using BenchmarkDotNet.Attributes;
using H2Middleware.Scheduling;

namespace H2Middleware.Benchmarks;

/// <summary>
/// One scheduling turn in steady state, as the serve loop takes it: dequeue the next stream, then enqueue it again
/// because it still has data. The cost should not grow much with the number of active streams, and nothing is allocated.
/// </summary>
[MemoryDiagnoser]
public class WriteSchedulerBenchmarks
{
    private const int TurnsPerInvoke = 1_000;

    private IWriteScheduler _roundRobin = null!;
    private IWriteScheduler _rfc9218 = null!;
    private IWriteScheduler _random = null!;
    private IWriteScheduler _rfc7540Tree = null!;

    [Params(1, 100, 1_000)]
    public int ActiveStreams { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _roundRobin = Filled(new RoundRobinWriteScheduler());
        _rfc9218 = Filled(new Rfc9218WriteScheduler());
        _random = Filled(new RandomWriteScheduler(seed: 1));
        _rfc7540Tree = Filled(new Rfc7540PriorityTreeScheduler());
    }

    /// <summary>Queues fresh streams (each scheduler keeps its own state in them) of every urgency, a third of them incremental.</summary>
    private IWriteScheduler Filled(IWriteScheduler scheduler)
    {
        for (int i = 0; i < ActiveStreams; i++)
        {
            var stream = new BenchmarkStream((2 * i) + 1, new Http2Priority(i % (Http2Priority.MaxUrgency + 1), incremental: i % 3 == 0));
            scheduler.OnStreamOpened(stream);
            // For a tree: every tenth stream under the root, the others under the last of those, weights 1 to 256.
            scheduler.OnRfc7540Priority(stream.StreamId, i % 10 == 0 ? 0 : (2 * (i - (i % 10))) + 1, 1 + (i * 37 % 256), exclusive: false);
            scheduler.Enqueue(stream);
        }

        // A warm-up round grows whatever the scheduler keeps, so that the measured turns are the steady state.
        TakeTurns(scheduler);
        return scheduler;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = TurnsPerInvoke)]
    public int RoundRobin() => TakeTurns(_roundRobin);

    [Benchmark(OperationsPerInvoke = TurnsPerInvoke)]
    public int Rfc9218() => TakeTurns(_rfc9218);

    [Benchmark(OperationsPerInvoke = TurnsPerInvoke)]
    public int Random() => TakeTurns(_random);

    [Benchmark(OperationsPerInvoke = TurnsPerInvoke)]
    public int Rfc7540PriorityTree() => TakeTurns(_rfc7540Tree);

    private static int TakeTurns(IWriteScheduler scheduler)
    {
        int idSum = 0;
        for (int turn = 0; turn < TurnsPerInvoke; turn++)
        {
            scheduler.TryDequeue(out IScheduledStream? stream);
            scheduler.Enqueue(stream!);
            idSum += stream!.StreamId;
        }

        return idSum;
    }

    private sealed class BenchmarkStream(int streamId, Http2Priority priority) : IScheduledStream
    {
        public int StreamId => streamId;

        public string Method => "GET";

        public string Path => "/";

        public string? Authority => "localhost";

        public Http2Priority ClientPriority => priority;

        public Http2Priority? HandlerPriority => null;

        public object? SchedulerState { get; set; }
    }
}
