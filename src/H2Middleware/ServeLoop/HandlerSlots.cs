using System.Diagnostics.CodeAnalysis;
using H2Middleware.Frames;
using H2Middleware.Protocol;
using H2Middleware.Telemetry;

namespace H2Middleware.ServeLoop;

/// <summary>
/// How many handlers run at once. Handlers still running count against the stream limit even after their stream
/// closed, so a client that opens and resets streams in a loop (CVE-2023-44487) cannot make us run more than a bounded
/// number at once; the excess waits here, and a client that piles up more is cut off.
/// </summary>
internal sealed class HandlerSlots(int limit, ConnectionMetrics metrics)
{
    // Made when a handler first has to wait: most connections never fill their slots.
    private Queue<StreamEntry>? _waiting;

    public int Running { get; private set; }

    /// <summary>Runs the stream's handler on the thread pool, or queues it until a slot frees.</summary>
    public void Start(StreamEntry stream)
    {
        if (Running < limit)
        {
            Run(stream);
            return;
        }

        _waiting ??= new Queue<StreamEntry>();
        if (_waiting.Count >= limit * 4)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "too many streams waiting for a handler");
        }

        stream.WaitingToRun = true;
        _waiting.Enqueue(stream);
        metrics.StreamQueued();
    }

    /// <summary>A handler returned; its slot is free.</summary>
    public void OnCompleted() => Running--;

    /// <summary>Takes the next waiting stream while a slot is free; the caller runs it (<see cref="Run"/>) or, if it closed meanwhile, releases it.</summary>
    public bool TryTakeWaiting([NotNullWhen(true)] out StreamEntry? stream)
    {
        if (Running < limit && _waiting is not null && _waiting.TryDequeue(out stream))
        {
            stream.WaitingToRun = false;
            metrics.StreamsLeftQueue(1);
            return true;
        }

        stream = null;
        return false;
    }

    public void Run(StreamEntry stream)
    {
        Running++;
        stream.ApplicationStarted = true;
        ThreadPool.UnsafeQueueUserWorkItem(stream.Stream, preferLocal: false);
    }

    /// <summary>The connection is ending: the waiting handlers will never run.</summary>
    public void ClearWaiting()
    {
        metrics.StreamsLeftQueue(_waiting?.Count ?? 0);
        _waiting?.Clear();
    }
}
