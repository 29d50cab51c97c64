using System.Threading.Tasks.Sources;

namespace H2Middleware.Streams;

/// <summary>
/// What a handler awaits while it offers its own buffer for the serve loop to copy the next DATA payload into (no copy
/// through the request pipe). One per stream, reused; the result is the number of bytes copied, or
/// <see cref="ReadThePipe"/>. Continuations run on the thread pool, set by this object queued as a work item, as for
/// <see cref="DirectWriteCompletion"/>.
/// </summary>
internal sealed class DirectReadCompletion : IValueTaskSource<int>, IThreadPoolWorkItem
{
    /// <summary>The offer ended without data (the body ended, failed or the stream was reset): read the request pipe, which says which.</summary>
    public const int ReadThePipe = -1;

    private ManualResetValueTaskSourceCore<int> _core;
    private int _result;
    private int _completionsInFlight;

    /// <summary>A completion is queued or being delivered; a stream recycled meanwhile takes a new object.</summary>
    public bool IsCompleting => Volatile.Read(ref _completionsInFlight) != 0;

    /// <summary>Where the loop copies to. Written by the handler before it publishes the offer, then read by the serve loop only.</summary>
    public Memory<byte> Buffer { get; private set; }

    /// <summary>How much of the body the handler had consumed when it offered: the loop takes the offer only if it has delivered exactly that.</summary>
    public long ConsumedWhenOffered { get; private set; }

    public ValueTask<int> Start(Memory<byte> buffer, long consumed)
    {
        Buffer = buffer;
        ConsumedWhenOffered = consumed;
        _core.Reset();
        return new ValueTask<int>(this, _core.Version);
    }

    public void Complete(int result)
    {
        Buffer = default;
        _result = result;
        Interlocked.Increment(ref _completionsInFlight);
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    void IThreadPoolWorkItem.Execute()
    {
        _core.SetResult(_result);
        Interlocked.Decrement(ref _completionsInFlight);
    }

    public int GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
