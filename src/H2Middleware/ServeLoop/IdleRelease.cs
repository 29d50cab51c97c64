using H2Middleware.Protocol;

namespace H2Middleware.ServeLoop;

/// <summary>
/// What a connection gives back once it is idle: its pooled streams, each a request's worth of objects (the entry, the
/// stream's features, pipes and header collections, the host's HttpContext), which an idle connection would otherwise
/// keep for as long as it stays open. Idle means no stream open and no handler running for a whole
/// <see cref="DataRateMonitor.Interval"/>, seen at the once-a-second tick that the data-rate checks run on: a busy
/// connection keeps its pool, and one that becomes busy again makes at most one stream per concurrent stream, once per
/// idle period (a second or more), never per request.
/// </summary>
internal sealed class IdleRelease(StreamTable streams, HandlerSlots handlers, StreamCoordinator coordinator, LoopClock clock)
{
    /// <summary>At a tick: releases what the connection pools if it has been idle long enough; false when the tick must come again.</summary>
    public bool TryRelease()
    {
        if (streams.OpenCount > 0 || handlers.Running > 0 || clock.Since(coordinator.IdleSince) < DataRateMonitor.Interval)
        {
            return false;
        }

        streams.ReleasePool();
        return true;
    }
}
