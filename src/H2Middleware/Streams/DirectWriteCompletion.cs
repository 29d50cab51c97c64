using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace H2Middleware.Streams;

/// <summary>
/// What a handler awaits while the serve loop sends its buffer straight from the handler's memory (no copy into the
/// stream's pipe). One per stream, reused; continuations run on the thread pool, never on the serve loop: the result is
/// set by this object queued as a work item, which unlike a queued continuation allocates nothing.
/// </summary>
internal sealed class DirectWriteCompletion : IValueTaskSource<FlushResult>, IThreadPoolWorkItem
{
    private ManualResetValueTaskSourceCore<FlushResult> _core;
    private bool _abandoned;
    private int _completionsInFlight;

    /// <summary>
    /// A completion is queued or being delivered. A handler that returned without awaiting its write leaves one behind;
    /// a stream recycled then takes a new object, or the late result would complete its next request's write.
    /// </summary>
    public bool IsCompleting => Volatile.Read(ref _completionsInFlight) != 0;

    /// <summary>What is left to send. Written by the handler before it publishes the write, then by the serve loop only.</summary>
    public ReadOnlyMemory<byte> Buffer { get; set; }

    public ValueTask<FlushResult> Start()
    {
        _core.Reset();
        return new ValueTask<FlushResult>(this, _core.Version);
    }

    /// <param name="abandoned">The stream was reset or the connection closed: the rest of the buffer will never be sent.</param>
    public void Complete(bool abandoned)
    {
        _abandoned = abandoned;
        Interlocked.Increment(ref _completionsInFlight);
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    void IThreadPoolWorkItem.Execute()
    {
        _core.SetResult(new FlushResult(isCanceled: false, isCompleted: _abandoned));
        Interlocked.Decrement(ref _completionsInFlight);
    }

    public FlushResult GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
