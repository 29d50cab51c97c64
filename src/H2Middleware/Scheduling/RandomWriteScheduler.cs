using System.Diagnostics.CodeAnalysis;

namespace H2Middleware.Scheduling;

/// <summary>
/// Serves a stream picked uniformly at random among those queued, ignoring priority: a baseline that no request
/// order can game, for comparing schedulers and for shaking out order-dependent bugs. O(1) per operation and
/// allocation-free once its slots have grown to the most streams ever queued at once.
/// </summary>
public sealed class RandomWriteScheduler : IWriteScheduler
{
    private readonly Random _random;

    // _slots[0.._count] hold the queued streams. A slot keeps its position for life; a stream's SchedulerState is its slot.
    private Slot[] _slots = new Slot[4];
    private int _count;

    public RandomWriteScheduler()
        : this(new Random())
    {
    }

    /// <summary>A scheduler whose choices repeat from run to run, for tests.</summary>
    public RandomWriteScheduler(int seed)
        : this(new Random(seed))
    {
    }

    private RandomWriteScheduler(Random random) => _random = random;

    public void Enqueue(IScheduledStream stream)
    {
        if (stream.SchedulerState is Slot)
        {
            // Already queued: the engine never does this, and a second slot would give the stream double the chance.
            return;
        }

        if (_count == _slots.Length)
        {
            Array.Resize(ref _slots, _count * 2);
        }

        Slot slot = _slots[_count] ??= new Slot(_count);
        slot.Stream = stream;
        stream.SchedulerState = slot;
        _count++;
    }

    public bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream)
    {
        if (_count == 0)
        {
            stream = null;
            return false;
        }

        stream = RemoveAt(_random.Next(_count));
        return true;
    }

    public void Remove(IScheduledStream stream)
    {
        if (stream.SchedulerState is Slot slot)
        {
            RemoveAt(slot.Index);
        }
    }

    /// <summary>Empties the slot by moving the last queued stream into it.</summary>
    private IScheduledStream RemoveAt(int index)
    {
        Slot slot = _slots[index];
        IScheduledStream removed = slot.Stream!;
        removed.SchedulerState = null;

        _count--;
        Slot last = _slots[_count];
        if (last != slot)
        {
            slot.Stream = last.Stream;
            slot.Stream!.SchedulerState = slot;
        }

        last.Stream = null;
        return removed;
    }

    private sealed class Slot(int index)
    {
        public int Index { get; } = index;

        public IScheduledStream? Stream { get; set; }
    }
}
