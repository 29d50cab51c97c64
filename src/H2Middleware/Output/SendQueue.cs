using System.Diagnostics.CodeAnalysis;
using System.Buffers;
using H2Middleware.Frames;
using H2Middleware.Protocol;
using H2Middleware.Scheduling;
using H2Middleware.ServeLoop;

namespace H2Middleware.Output;

/// <summary>
/// The streams that have something to send: those that can send now wait in the write scheduler, in the order it
/// chooses; those held back only by flow control (their window or the connection's) wait here until a WINDOW_UPDATE.
/// A stream is offered to the scheduler only while it can send. The time each stream spends waiting here is its
/// scheduling telemetry, published to its handler after each turn.
/// </summary>
internal sealed class SendQueue(IWriteScheduler scheduler, IStreamOutputEvents events, LoopClock clock)
{
    private readonly List<StreamEntry> _waitingForWindow = [];

    /// <summary>How much DATA the connection may still send (RFC 9113 §6.9).</summary>
    public OutboundWindow ConnectionWindow { get; } = new(Http2Limits.DefaultInitialWindowSize);

    public IWriteScheduler Scheduler => scheduler;

    /// <summary>How many streams wait in the write scheduler.</summary>
    public int ScheduledCount { get; private set; }

    /// <summary>Queues the stream in the scheduler if it can send now; parks it if only a window is missing.</summary>
    public void Evaluate(StreamEntry stream)
    {
        if (stream.IsScheduled || stream.LocalClosed || stream.WasReset)
        {
            return;
        }

        stream.Stream.AcknowledgeOutputNotification();
        switch (Readiness(stream))
        {
            case OutputReadiness.Ready:
                StopWaitingForWindow(stream);
                stream.IsScheduled = true;
                stream.QueuedSince = clock.Now;
                ScheduledCount++;
                scheduler.Enqueue(stream);
                break;
            case OutputReadiness.WaitingForWindow when !stream.IsWaitingForWindow:
                stream.WindowWaitSlot = _waitingForWindow.Count;
                stream.BlockedSince = clock.Now;
                stream.BlockedOnStreamWindow = stream.SendWindow.Available <= 0;
                _waitingForWindow.Add(stream);
                break;
            case OutputReadiness.WaitingForWindow when stream.BlockedOnStreamWindow != stream.SendWindow.Available <= 0:
                // Still waiting, now for the other window: the wait so far is charged to the one that was missing.
                ChargeBlockedTime(stream);
                stream.BlockedSince = clock.Now;
                stream.BlockedOnStreamWindow = !stream.BlockedOnStreamWindow;
                break;
        }
    }

    /// <summary>The stream can no longer send: forgotten by the scheduler and the window wait.</summary>
    private void Remove(StreamEntry stream)
    {
        if (stream.IsScheduled)
        {
            stream.IsScheduled = false;
            stream.QueuedTime += clock.Since(stream.QueuedSince);
            ScheduledCount--;
            scheduler.Remove(stream);
        }

        StopWaitingForWindow(stream);
        Publish(stream);
    }

    /// <summary>The stream's turn is over: its telemetry is published, and it is queued again if it can still send.</summary>
    public void AfterTurn(StreamEntry stream)
    {
        Publish(stream);
        Evaluate(stream);
    }

    /// <summary>The stream closed: it leaves the queue, and the scheduler forgets it.</summary>
    public void OnStreamClosed(StreamEntry stream)
    {
        Remove(stream);
        scheduler.OnStreamClosed(stream.StreamId);
    }

    /// <summary>The next stream to give a turn, as the scheduler picks it.</summary>
    public bool TryDequeue([NotNullWhen(true)] out StreamEntry? stream)
    {
        if (scheduler.TryDequeue(out IScheduledStream? scheduled))
        {
            stream = (StreamEntry)scheduled;
            stream.IsScheduled = false;
            stream.QueuedTime += clock.Since(stream.QueuedSince);
            ScheduledCount--;
            return true;
        }

        stream = null;
        return false;
    }

    /// <summary>Every stream window grew (SETTINGS_INITIAL_WINDOW_SIZE): the streams that waited for a window are looked at again.</summary>
    public void ResumeWaitingStreams() => Resume(includeStreamWindowBlocked: true);

    /// <summary>
    /// The connection's window grew: the streams that waited for it are looked at again, not those whose own window is
    /// what holds them, which only their WINDOW_UPDATE can free.
    /// </summary>
    public void ResumeStreamsWaitingForConnectionWindow() => Resume(includeStreamWindowBlocked: false);

    private void Resume(bool includeStreamWindowBlocked)
    {
        // A connection window still shut frees nothing. Stream windows that grew are looked at even then: a stream no
        // longer held by its own window must be marked as waiting for the connection's, which is what frees it next.
        if (!includeStreamWindowBlocked && ConnectionWindow.Available <= 0)
        {
            return;
        }

        // Backwards: a stream that stops waiting takes the last one's place, which has been looked at already.
        for (int i = _waitingForWindow.Count - 1; i >= 0; i--)
        {
            StreamEntry stream = _waitingForWindow[i];
            if (includeStreamWindowBlocked || !stream.BlockedOnStreamWindow)
            {
                Evaluate(stream);
            }
        }
    }

    private void StopWaitingForWindow(StreamEntry stream)
    {
        if (stream.IsWaitingForWindow)
        {
            // The last waiting stream takes its place: no search, no shift, whatever the number of streams waiting.
            StreamEntry last = _waitingForWindow[^1];
            _waitingForWindow[stream.WindowWaitSlot] = last;
            last.WindowWaitSlot = stream.WindowWaitSlot;
            _waitingForWindow.RemoveAt(_waitingForWindow.Count - 1);
            stream.WindowWaitSlot = -1;
            ChargeBlockedTime(stream);
        }
    }

    private void ChargeBlockedTime(StreamEntry stream)
    {
        TimeSpan blocked = clock.Since(stream.BlockedSince);
        if (stream.BlockedOnStreamWindow)
        {
            stream.StreamWindowBlockedTime += blocked;
        }
        else
        {
            stream.ConnectionWindowBlockedTime += blocked;
        }
    }

    private static void Publish(StreamEntry stream) =>
        stream.Stream.PublishSchedulingTelemetry(stream.QueuedTime, stream.StreamWindowBlockedTime, stream.ConnectionWindowBlockedTime, stream.ResponseBytesSent);

    private enum OutputReadiness : byte
    {
        Nothing,
        Ready,
        WaitingForWindow,
    }

    private OutputReadiness Readiness(StreamEntry stream)
    {
        if (!stream.Stream.HasResponseStarted)
        {
            return OutputReadiness.Nothing;
        }

        if (!stream.ResponseHeadersSent)
        {
            return OutputReadiness.Ready;
        }

        bool hasData = stream.Stream.HasDirectWrite;
        bool completed = false;
        if (ResponseRead.TryRead(stream, events, out ReadOnlySequence<byte> data, out bool bodyCompleted))
        {
            hasData |= !data.IsEmpty;
            completed = bodyCompleted;
            stream.Stream.ResponseBody.Release(0);
        }
        else if (stream.WasReset)
        {
            return OutputReadiness.Nothing;
        }

        if (hasData)
        {
            return stream.Stream.SuppressResponseBody || (stream.SendWindow.Available > 0 && ConnectionWindow.Available > 0)
                ? OutputReadiness.Ready
                : OutputReadiness.WaitingForWindow;
        }

        return completed ? OutputReadiness.Ready : OutputReadiness.Nothing;
    }
}
