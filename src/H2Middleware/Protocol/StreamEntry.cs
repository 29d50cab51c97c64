using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.Streams;

namespace H2Middleware.Protocol;

/// <summary>
/// The serve loop's record of one stream: its RFC 9113 §5.1 state, flow-control windows, request body accounting,
/// handler bookkeeping and scheduling flags. Only the loop holds entries; the handler side (<see cref="Stream"/>) has
/// no way to reach its entry and names the stream by id in its messages. Entries are pooled with their
/// <see cref="Http2Stream"/>: one pair per concurrent stream.
/// </summary>
internal sealed class StreamEntry(Http2Stream stream) : IScheduledStream
{
    private Http2Priority _clientPriority = Http2Priority.Default;

    /// <summary>The handler side: the request and response as the application sees them.</summary>
    public Http2Stream Stream => stream;

    public int StreamId { get; private set; }

    /// <summary>The stream's RFC 9113 §5.1 state, changed only by <see cref="StreamLifecycle.Apply"/>.</summary>
    public StreamLifecycle Lifecycle { get; } = new();

    public bool RemoteClosed => Lifecycle.RemoteClosed;

    public bool LocalClosed => Lifecycle.LocalClosed;

    public bool IsClosed => Lifecycle.IsClosed;

    public bool WasReset => Lifecycle.WasReset;

    /// <summary>How much DATA we may send (RFC 9113 §6.9).</summary>
    public OutboundWindow SendWindow { get; } = new();

    /// <summary>How much DATA the client may still send us, and what the handler has freed.</summary>
    public InboundWindow ReceiveWindow { get; } = new();

    /// <summary>Request body bytes received in DATA frames (padding excluded), for the content-length check.</summary>
    public long RequestBodyReceived { get; set; }

    /// <summary>Request body bytes written to the request pipe.</summary>
    public long RequestBodyDelivered { get; set; }

    /// <summary>Request body bytes the handler has consumed (taken out of the pipe).</summary>
    public long RequestBodyConsumed { get; set; }

    /// <summary>Request body bytes the handler has examined (at least those it consumed).</summary>
    public long RequestBodyExamined { get; set; }

    /// <summary>Request body bytes of the pipe whose flow-control window has been given back (or is due with the next WINDOW_UPDATE).</summary>
    public long RequestBodyReleased { get; set; }

    /// <summary>How long the handler has waited for request body data (for the minimum request body data rate).</summary>
    public TimeSpan RequestBodyWaitTime { get; set; }

    /// <summary>Whether the handler has waited for request body data since the last data-rate check.</summary>
    public bool RequestBodyWaitedSinceCheck { get; set; }

    /// <summary>Response DATA bytes sent.</summary>
    public long ResponseBytesSent { get; set; }

    /// <summary>How long the response has had data held back by the client (for the minimum response data rate).</summary>
    public TimeSpan ResponseBlockedTime { get; set; }

    /// <summary>Incoming DATA is counted for flow control and dropped (the application is done with the body or it was refused).</summary>
    public bool DiscardingRequestBody { get; set; }

    public bool ResponseHeadersSent { get; set; }

    public bool ApplicationStarted { get; set; }

    public bool ApplicationCompleted { get; set; }

    /// <summary>The stream waits in the connection's queue for a handler slot.</summary>
    public bool WaitingToRun { get; set; }

    /// <summary>RequestAborted is being fired on the thread pool: its callbacks may still use the stream, so it is not recycled yet.</summary>
    public bool AbortCallbacksPending { get; set; }

    /// <summary>A reset the handler asked for after completing its response whole: sent once the response's END_STREAM is.</summary>
    public Http2ErrorCode? ResetAfterResponse { get; set; }

    /// <summary>The stream is queued in the write scheduler.</summary>
    public bool IsScheduled { get; set; }

    /// <summary>The stream has data but no window (its own or the connection's) and waits for a WINDOW_UPDATE.</summary>
    public bool IsWaitingForWindow => WindowWaitSlot >= 0;

    /// <summary>Where the stream is in the send queue's list of streams waiting for window; -1 when it is not there.</summary>
    public int WindowWaitSlot { get; set; } = -1;

    /// <summary>When the stream last joined the scheduler's queue (a <see cref="TimeProvider"/> timestamp).</summary>
    public long QueuedSince { get; set; }

    /// <summary>When the stream last started waiting for window, and whether its own window was the one missing.</summary>
    public long BlockedSince { get; set; }

    public bool BlockedOnStreamWindow { get; set; }

    public TimeSpan QueuedTime { get; set; }

    public TimeSpan StreamWindowBlockedTime { get; set; }

    public TimeSpan ConnectionWindowBlockedTime { get; set; }

    public string Method => stream.Method;

    /// <summary>The raw <c>:path</c>.</summary>
    public string Path => stream.RawTarget;

    public string? Authority => stream.Authority;

    /// <summary>The client's priority; each change is also published to the handler's priority feature.</summary>
    public Http2Priority ClientPriority
    {
        get => _clientPriority;
        set
        {
            _clientPriority = value;
            stream.PublishClientPriority(value);
        }
    }

    /// <summary>The client sent a PRIORITY_UPDATE for the stream, which overrides its <c>priority</c> header.</summary>
    public bool HasPriorityUpdate { get; set; }

    public Http2Priority? HandlerPriority => stream.HandlerPriority;

    public object? SchedulerState { get; set; }

    /// <summary>
    /// Starts a use of the pair for a new stream with the given windows: opened by the client's HEADERS, or
    /// (<see cref="StreamEvent.Reserved"/>) promised by us.
    /// </summary>
    public void Open(int streamId, int sendWindow, int receiveWindow, StreamEvent opening = StreamEvent.Opened)
    {
        StreamId = streamId;
        SendWindow.Reset(sendWindow);
        ReceiveWindow.Reset(receiveWindow);
        Lifecycle.Apply(opening);
        stream.Initialize(streamId);
    }

    /// <summary>
    /// Clears every per-stream state so the pair can serve another stream. Called once the stream is closed and nothing
    /// of the handler side holds it any more (its handler returned or never ran, its RequestAborted callbacks ran).
    /// </summary>
    public void Recycle()
    {
        stream.Reset();
        Lifecycle.Reset();
        StreamId = 0;
        RequestBodyReceived = 0;
        RequestBodyDelivered = 0;
        RequestBodyConsumed = 0;
        RequestBodyExamined = 0;
        RequestBodyReleased = 0;
        RequestBodyWaitTime = TimeSpan.Zero;
        RequestBodyWaitedSinceCheck = false;
        ResponseBytesSent = 0;
        ResponseBlockedTime = TimeSpan.Zero;
        DiscardingRequestBody = false;
        ResponseHeadersSent = false;
        ApplicationStarted = false;
        ApplicationCompleted = false;
        WaitingToRun = false;
        AbortCallbacksPending = false;
        IsScheduled = false;
        WindowWaitSlot = -1;
        ResetAfterResponse = null;
        QueuedTime = TimeSpan.Zero;
        StreamWindowBlockedTime = TimeSpan.Zero;
        ConnectionWindowBlockedTime = TimeSpan.Zero;
        _clientPriority = Http2Priority.Default;
        HasPriorityUpdate = false;
        SchedulerState = null;
    }
}
