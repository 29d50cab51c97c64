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
/// (about 1.9 KB). Waiting is the inbox itself as a reusable value-task source: every change of the wait's state
/// happens under the lock, and the loop's continuation is queued to the thread pool's global queue (as the channel
/// did), never run on the writer's thread nor queued to that thread's local queue, where it would run right after
/// the handler that posted and take one message per wake-up instead of a batch.
/// </summary>
/// <remarks>
/// Single reader; WaitToReadAsync takes no cancellation token (the loop never cancels its wait), and its continuation
/// runs without the awaiter's ExecutionContext or scheduling context: the loop awaits in async methods, whose
/// builders restore their own context, on the thread pool.
/// </remarks>
internal sealed class ServeLoopInbox : Channel<ServeLoopMessage>, IValueTaskSource<bool>
{
    private const int InitialCapacity = 4;

    private readonly Lock _gate = new();

    // Guarded by _gate: what writers have appended since the loop last took a batch, and the loop's wait.
    private ServeLoopMessage[] _incoming = [];
    private int _incomingCount;
    private bool _completed;
    private bool _readerWaiting;
    private short _waitVersion;
    private bool _waitEnded;
    private bool _waitResult;
    private Action<object?>? _continuation;
    private object? _continuationState;

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
        Action<object?>? continuation;
        object? state;
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
            if (!_readerWaiting)
            {
                return true;
            }

            EndWait(true, out continuation, out state);
        }

        QueueContinuation(continuation, state);
        return true;
    }

    private bool TryComplete()
    {
        Action<object?>? continuation = null;
        object? state = null;
        lock (_gate)
        {
            if (_completed)
            {
                return false;
            }

            _completed = true;
            if (_readerWaiting)
            {
                EndWait(_incomingCount > 0, out continuation, out state);
            }
        }

        QueueContinuation(continuation, state);
        return true;
    }

    /// <summary>Under the lock: ends the loop's wait, and hands out its continuation if it has registered one.</summary>
    private void EndWait(bool result, out Action<object?>? continuation, out object? state)
    {
        _readerWaiting = false;
        _waitResult = result;
        _waitEnded = true;
        continuation = _continuation;
        state = _continuationState;
        _continuation = null;
        _continuationState = null;
    }

    private static void QueueContinuation(Action<object?>? continuation, object? state)
    {
        if (continuation is not null)
        {
            ThreadPool.UnsafeQueueUserWorkItem(continuation, state, preferLocal: false);
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

            _waitVersion++;
            _waitEnded = false;
            _readerWaiting = true;
            return new ValueTask<bool>(this, _waitVersion);
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token)
    {
        lock (_gate)
        {
            CheckWait(token);
            return _waitEnded ? _waitResult : throw new InvalidOperationException("The inbox's wait has not ended.");
        }
    }

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token)
    {
        lock (_gate)
        {
            CheckWait(token);
            return _waitEnded ? ValueTaskSourceStatus.Succeeded : ValueTaskSourceStatus.Pending;
        }
    }

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        lock (_gate)
        {
            CheckWait(token);
            if (!_waitEnded)
            {
                _continuation = continuation;
                _continuationState = state;
                return;
            }
        }

        QueueContinuation(continuation, state);
    }

    private void CheckWait(short token)
    {
        if (token != _waitVersion)
        {
            throw new InvalidOperationException("The inbox's wait was awaited after a newer one began.");
        }
    }

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
