using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using System.Threading.Tasks.Sources;

namespace H2Middleware.ServeLoop;

/// <summary>
/// The serve loop's inbox: any thread writes, the loop alone reads. Writers append to one array under a lock; the
/// loop, once it has read everything it took, swaps that array for its own empty one under the same lock, so it takes
/// a whole batch per lock and reads it without one. Both arrays start empty and double as batches grow, and the loop
/// lets them go when the connection is idle (<see cref="ReleaseBuffers"/>): an idle connection's inbox is a few small
/// objects, where System.Threading.Channels' unbounded channel keeps a 32-message segment and its bookkeeping
/// (about 1.9 KB). Waiting is one reusable value-task source, completed off the writer's thread.
/// </summary>
/// <remarks>Single reader; WaitToReadAsync takes no cancellation token (the loop never cancels its wait).</remarks>
internal sealed class ServeLoopInbox : Channel<ServeLoopMessage>, IValueTaskSource<bool>
{
    private const int InitialCapacity = 4;

    private readonly Lock _gate = new();
    private ManualResetValueTaskSourceCore<bool> _signal = new() { RunContinuationsAsynchronously = true };

    // Guarded by _gate: what writers have appended since the loop last took a batch.
    private ServeLoopMessage[] _incoming = [];
    private int _incomingCount;
    private bool _readerWaiting;
    private bool _completed;

    // The loop's own: the batch it is reading.
    private ServeLoopMessage[] _batch = [];
    private int _batchCount;
    private int _batchNext;

    public ServeLoopInbox()
    {
        Reader = new InboxReader(this);
        Writer = new InboxWriter(this);
    }

    /// <summary>On the loop, when the connection is idle: lets both arrays go unless they hold messages.</summary>
    public void ReleaseBuffers()
    {
        if (_batchNext == _batchCount)
        {
            _batch = [];
            _batchCount = 0;
            _batchNext = 0;
        }

        lock (_gate)
        {
            if (_incomingCount == 0)
            {
                _incoming = [];
            }
        }
    }

    private bool TryWrite(in ServeLoopMessage message)
    {
        lock (_gate)
        {
            if (_completed)
            {
                return false;
            }

            if (_incomingCount == _incoming.Length)
            {
                Array.Resize(ref _incoming, Math.Max(InitialCapacity, 2 * _incoming.Length));
            }

            _incoming[_incomingCount++] = message;
            WakeReader(true);
            return true;
        }
    }

    private bool TryComplete()
    {
        lock (_gate)
        {
            if (_completed)
            {
                return false;
            }

            _completed = true;
            WakeReader(_incomingCount > 0);
            return true;
        }
    }

    /// <summary>
    /// Under the lock: completes the loop's wait, if it waits. Completing under the lock keeps the next wait's reset
    /// from overtaking it (the loop may see the completion before the writer is done signalling it); the continuation
    /// is queued, never run here.
    /// </summary>
    private void WakeReader(bool hasMessages)
    {
        if (_readerWaiting)
        {
            _readerWaiting = false;
            _signal.SetResult(hasMessages);
        }
    }

    private bool TryRead(out ServeLoopMessage message)
    {
        if (_batchNext == _batchCount && !TryTakeBatch())
        {
            message = default;
            return false;
        }

        message = _batch[_batchNext];
        // The slot may hold a payload (a push request): do not keep it alive.
        _batch[_batchNext++] = default;
        return true;
    }

    private bool TryPeek(out ServeLoopMessage message)
    {
        if (_batchNext == _batchCount && !TryTakeBatch())
        {
            message = default;
            return false;
        }

        message = _batch[_batchNext];
        return true;
    }

    /// <summary>Swaps the writers' array (if it has messages) for the loop's read-out one.</summary>
    private bool TryTakeBatch()
    {
        // Without the lock a message being written may be missed; the loop's wait, which looks under the lock, is not.
        if (Volatile.Read(ref _incomingCount) == 0)
        {
            return false;
        }

        lock (_gate)
        {
            if (_incomingCount == 0)
            {
                return false;
            }

            (_batch, _incoming) = (_incoming, _batch);
            _batchCount = _incomingCount;
            _batchNext = 0;
            _incomingCount = 0;
            return true;
        }
    }

    private ValueTask<bool> WaitToReadAsync()
    {
        if (_batchNext < _batchCount)
        {
            return new ValueTask<bool>(true);
        }

        lock (_gate)
        {
            if (_incomingCount > 0 || _completed)
            {
                return new ValueTask<bool>(_incomingCount > 0);
            }

            _signal.Reset();
            _readerWaiting = true;
        }

        return new ValueTask<bool>(this, _signal.Version);
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _signal.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _signal.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _signal.OnCompleted(continuation, state, token, flags);

    private sealed class InboxReader(ServeLoopInbox inbox) : ChannelReader<ServeLoopMessage>
    {
        public override bool CanPeek => true;

        public override bool TryRead([MaybeNullWhen(false)] out ServeLoopMessage item) => inbox.TryRead(out item);

        public override bool TryPeek([MaybeNullWhen(false)] out ServeLoopMessage item) => inbox.TryPeek(out item);

        public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) =>
            cancellationToken.CanBeCanceled
                ? throw new NotSupportedException("The serve loop's inbox does not cancel a wait.")
                : inbox.WaitToReadAsync();
    }

    private sealed class InboxWriter(ServeLoopInbox inbox) : ChannelWriter<ServeLoopMessage>
    {
        public override bool TryWrite(ServeLoopMessage item) => inbox.TryWrite(item);

        public override bool TryComplete(Exception? error = null) => inbox.TryComplete();

        public override ValueTask<bool> WaitToWriteAsync(CancellationToken cancellationToken = default) =>
            new(!Volatile.Read(ref inbox._completed));
    }
}
