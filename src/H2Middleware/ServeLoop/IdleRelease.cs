using H2Middleware.Hpack;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.Scheduling;

namespace H2Middleware.ServeLoop;

/// <summary>
/// What a connection gives back once it is idle, which it would otherwise keep for as long as it stays open: its
/// pooled streams, each a request's worth of objects (the entry, the stream's features, pipes and header collections,
/// the host's HttpContext) and the stream table's storage, the header strings it remembers, the HPACK scratch buffers,
/// the response block buffer, the control frame queue's array, the inbox's arrays, what our write scheduler keeps for
/// reuse, and the timer of the tick that found it idle. Idle means no stream open and no handler running for a whole
/// <see cref="DataRateMonitor.Interval"/>, seen at the once-a-second tick that the data-rate checks run on: a busy
/// connection keeps all of it, and one that becomes busy again makes it again once per idle period (a second or
/// more), never per request. The HPACK tables stay: they are state shared with the client.
/// </summary>
internal sealed class IdleRelease(
    StreamTable streams,
    HandlerSlots handlers,
    StreamCoordinator coordinator,
    LoopClock clock,
    LoopTimers timers,
    ServeLoopInbox inbox,
    HeaderStringCache headerStrings,
    HpackDecoder decoder,
    ResponseFieldEncoder responseFields,
    ControlFrameQueue controlFrames)
{
    /// <summary>At a tick: releases what the connection holds if it has been idle long enough; false when the tick must come again.</summary>
    public bool TryRelease()
    {
        if (streams.OpenCount > 0 || handlers.Running > 0 || clock.Since(coordinator.IdleSince) < DataRateMonitor.Interval)
        {
            return false;
        }

        streams.ReleasePool();
        headerStrings.Release();
        decoder.ReleaseBuffers();
        responseFields.ReleaseBuffer();
        controlFrames.ReleaseBuffer();
        inbox.ReleaseBuffers();
        (coordinator.SendQueue.Scheduler as IIdleMemoryRelease)?.ReleaseIdleMemory();
        // The next stream arms a new one.
        timers.Cancel(ServeLoopTimer.DataRates);
        return true;
    }
}
