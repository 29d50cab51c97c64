using System.Diagnostics.CodeAnalysis;
using System.Numerics;

namespace H2Middleware.Scheduling;

/// <summary>
/// Serves streams as RFC 9218 §10 recommends, so that what the client (or handler) marked urgent reaches it first:
/// strictly by urgency (0 first); within one urgency, non-incremental responses one at a time in stream-id order
/// (request order), since a client can use them only once complete, and incremental responses round-robin, since
/// each part is useful as it arrives. When both kinds wait at the same urgency they take alternate turns, so
/// neither starves the other. Enqueue, TryDequeue, Remove and OnPriorityChanged cost O(log n) at most and
/// allocate nothing once the pool of queue entries has grown to the most streams ever queued at once. An urgency
/// level is made when a stream is first queued at it: most connections use one or two of the eight.
/// </summary>
public sealed class Rfc9218WriteScheduler : IWriteScheduler, IIdleMemoryRelease
{
    // Made by the first stream queued, one level at a time; let go when the connection is idle.
    private UrgencyLevel?[]? _levels;
    private readonly Stack<QueueEntry> _spareEntries = new();

    // Bit u is set while urgency u has a queued stream: the most urgent one is the lowest set bit.
    private int _occupiedLevels;

    public void Enqueue(IScheduledStream stream)
    {
        if (stream.SchedulerState is QueueEntry)
        {
            // Already queued: the engine never does this, and a second entry would serve the stream twice.
            return;
        }

        QueueEntry entry = _spareEntries.Count > 0 ? _spareEntries.Pop() : new QueueEntry();
        entry.Stream = stream;
        entry.StreamId = stream.StreamId;
        stream.SchedulerState = entry;
        Place(entry, stream.EffectivePriority);
    }

    public bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream)
    {
        if (_occupiedLevels == 0)
        {
            stream = null;
            return false;
        }

        int urgency = BitOperations.TrailingZeroCount(_occupiedLevels);
        UrgencyLevel level = _levels![urgency]!;
        QueueEntry entry = level.TakeTurn();
        if (level.IsEmpty)
        {
            _occupiedLevels &= ~(1 << urgency);
        }

        stream = Release(entry);
        return true;
    }

    public void Remove(IScheduledStream stream)
    {
        if (stream.SchedulerState is QueueEntry entry)
        {
            Unplace(entry);
            Release(entry);
        }
    }

    /// <summary>A queued stream moves to its new urgency and group at once; an unqueued one is placed by its priority when next enqueued.</summary>
    public void OnPriorityChanged(IScheduledStream stream)
    {
        if (stream.SchedulerState is not QueueEntry entry)
        {
            return;
        }

        Http2Priority priority = stream.EffectivePriority;
        if (priority.Urgency != entry.Urgency || priority.Incremental != entry.Incremental)
        {
            Unplace(entry);
            Place(entry, priority);
        }
    }

    void IIdleMemoryRelease.ReleaseIdleMemory()
    {
        if (_occupiedLevels == 0)
        {
            _levels = null;
            _spareEntries.Clear();
            _spareEntries.TrimExcess();
        }
    }

    private void Place(QueueEntry entry, Http2Priority priority)
    {
        entry.Urgency = priority.Urgency;
        entry.Incremental = priority.Incremental;
        _levels ??= new UrgencyLevel?[Http2Priority.MaxUrgency + 1];
        (_levels[priority.Urgency] ??= new UrgencyLevel()).Add(entry);
        _occupiedLevels |= 1 << priority.Urgency;
    }

    private void Unplace(QueueEntry entry)
    {
        UrgencyLevel level = _levels![entry.Urgency]!;
        level.Remove(entry);
        if (level.IsEmpty)
        {
            _occupiedLevels &= ~(1 << entry.Urgency);
        }
    }

    private IScheduledStream Release(QueueEntry entry)
    {
        IScheduledStream stream = entry.Stream!;
        stream.SchedulerState = null;
        entry.Stream = null;
        _spareEntries.Push(entry);
        return stream;
    }

    /// <summary>A queued stream's place: the priority it was filed under, and its links in the heap or turn queue that holds it.</summary>
    private sealed class QueueEntry
    {
        public IScheduledStream? Stream;
        public int StreamId;
        public int Urgency;
        public bool Incremental;

        /// <summary>Position in the level's stream-id heap (non-incremental entries only).</summary>
        public int HeapIndex;

        /// <summary>Neighbours in the level's turn queue (incremental entries only).</summary>
        public QueueEntry? Previous;
        public QueueEntry? Next;
    }

    /// <summary>The streams of one urgency: non-incremental ones by stream id, incremental ones in turn, the two groups alternating.</summary>
    private sealed class UrgencyLevel
    {
        private readonly StreamIdHeap _sequential = new();
        private readonly TurnQueue _incremental = new();
        private bool _incrementalTurnNext;

        public bool IsEmpty => _sequential.Count == 0 && _incremental.IsEmpty;

        public void Add(QueueEntry entry)
        {
            if (entry.Incremental)
            {
                _incremental.AddLast(entry);
            }
            else
            {
                _sequential.Add(entry);
            }
        }

        public void Remove(QueueEntry entry)
        {
            if (entry.Incremental)
            {
                _incremental.Remove(entry);
            }
            else
            {
                _sequential.Remove(entry);
            }
        }

        /// <summary>Takes the next entry; the level must not be empty.</summary>
        public QueueEntry TakeTurn()
        {
            bool incremental = _sequential.Count == 0 || (_incrementalTurnNext && !_incremental.IsEmpty);
            _incrementalTurnNext = !incremental;
            return incremental ? _incremental.TakeFirst() : _sequential.TakeLowest();
        }
    }

    /// <summary>A binary min-heap by stream id: the lowest id keeps the turn until it leaves.</summary>
    private sealed class StreamIdHeap
    {
        private QueueEntry[] _entries = new QueueEntry[4];

        public int Count { get; private set; }

        public void Add(QueueEntry entry)
        {
            if (Count == _entries.Length)
            {
                Array.Resize(ref _entries, Count * 2);
            }

            Count++;
            SiftUp(entry, Count - 1);
        }

        public QueueEntry TakeLowest()
        {
            QueueEntry lowest = _entries[0];
            Remove(lowest);
            return lowest;
        }

        public void Remove(QueueEntry entry)
        {
            int last = Count - 1;
            QueueEntry moved = _entries[last];
            _entries[last] = null!;
            Count = last;
            if (entry.HeapIndex == last)
            {
                return;
            }

            // The last entry fills the hole, then finds its place in whichever direction it belongs.
            int hole = entry.HeapIndex;
            if (hole > 0 && moved.StreamId < _entries[(hole - 1) / 2].StreamId)
            {
                SiftUp(moved, hole);
            }
            else
            {
                SiftDown(moved, hole);
            }
        }

        private void SiftUp(QueueEntry entry, int index)
        {
            while (index > 0)
            {
                int parent = (index - 1) / 2;
                if (_entries[parent].StreamId <= entry.StreamId)
                {
                    break;
                }

                Put(_entries[parent], index);
                index = parent;
            }

            Put(entry, index);
        }

        private void SiftDown(QueueEntry entry, int index)
        {
            while (true)
            {
                int child = (2 * index) + 1;
                if (child >= Count)
                {
                    break;
                }

                if (child + 1 < Count && _entries[child + 1].StreamId < _entries[child].StreamId)
                {
                    child++;
                }

                if (entry.StreamId <= _entries[child].StreamId)
                {
                    break;
                }

                Put(_entries[child], index);
                index = child;
            }

            Put(entry, index);
        }

        private void Put(QueueEntry entry, int index)
        {
            _entries[index] = entry;
            entry.HeapIndex = index;
        }
    }

    /// <summary>A doubly linked FIFO of entries threaded through the entries themselves: served from the head, rejoined at the tail.</summary>
    private sealed class TurnQueue
    {
        private QueueEntry? _first;
        private QueueEntry? _last;

        public bool IsEmpty => _first is null;

        public void AddLast(QueueEntry entry)
        {
            entry.Previous = _last;
            entry.Next = null;
            if (_last is null)
            {
                _first = entry;
            }
            else
            {
                _last.Next = entry;
            }

            _last = entry;
        }

        public QueueEntry TakeFirst()
        {
            QueueEntry first = _first!;
            Remove(first);
            return first;
        }

        public void Remove(QueueEntry entry)
        {
            if (entry.Previous is null)
            {
                _first = entry.Next;
            }
            else
            {
                entry.Previous.Next = entry.Next;
            }

            if (entry.Next is null)
            {
                _last = entry.Previous;
            }
            else
            {
                entry.Next.Previous = entry.Previous;
            }

            entry.Previous = null;
            entry.Next = null;
        }
    }
}
