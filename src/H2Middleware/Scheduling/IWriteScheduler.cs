using System.Diagnostics.CodeAnalysis;

namespace H2Middleware.Scheduling;

/// <summary>
/// Decides which stream sends next on one connection. The engine owns everything else: control frames always
/// go ahead of stream data, DATA is split by flow-control windows and the peer's max frame size, and a stream is
/// offered only while it can send (it has headers to send, or data and window, or its end to signal).
/// One instance serves one connection and is called on that connection's serve loop only, so it needs no locks.
/// </summary>
public interface IWriteScheduler
{
    /// <summary>The stream has become able to send. It is not already queued.</summary>
    void Enqueue(IScheduledStream stream);

    /// <summary>
    /// Takes the stream to serve next, or returns false when none is queued. The engine gives it one turn — its HEADERS
    /// if not yet sent, then up to 64 KiB of DATA cut to the windows, and its end (END_STREAM or trailers) if it has
    /// come — and enqueues it again if it can still send.
    /// </summary>
    bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream);

    /// <summary>The stream can no longer send (reset, closed, or blocked on flow control) and must be forgotten if queued.</summary>
    void Remove(IScheduledStream stream);

    /// <summary>The stream's priority signals changed (PRIORITY_UPDATE or the handler). Called whether or not it is queued.</summary>
    void OnPriorityChanged(IScheduledStream stream)
    {
    }
}
