using System.IO.Pipelines;
using H2Middleware.Frames;
using H2Middleware.Protocol;
using H2Middleware.Scheduling;
using H2Middleware.ServeLoop;

namespace H2Middleware.Streams;

/// <summary>
/// One HTTP/2 stream: its protocol state, owned by the serve loop, and the request/response it carries,
/// exposed to the application as an <see cref="Microsoft.AspNetCore.Http.Features.IFeatureCollection"/>.
/// The two sides meet only through the request and response body pipes and the loop's messages.
/// </summary>
internal partial class Http2Stream : IScheduledStream, IThreadPoolWorkItem
{
    private readonly Http2Connection _connection;

    /// <summary>Makes the reusable parts (pipes, body streams, header collections); <see cref="Initialize"/> starts each use.</summary>
    public Http2Stream(Http2Connection connection)
    {
        _connection = connection;
        var memoryPool = connection.MemoryPool;
        _requestPipe = new Pipe(new PipeOptions(
            pool: memoryPool,
            readerScheduler: PipeScheduler.ThreadPool,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0,
            useSynchronizationContext: false));
        _responsePipe = new Pipe(new PipeOptions(
            pool: memoryPool,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.ThreadPool,
            pauseWriterThreshold: connection.Options.MaxResponseBufferSizePerStream,
            resumeWriterThreshold: connection.Options.MaxResponseBufferSizePerStream / 2,
            useSynchronizationContext: false));
        _requestBodyReader = new RequestBodyReader(this, _requestPipe.Reader);
        _requestBodyStream = new RequestBodyStream(this, _requestBodyReader);
        _responseBodyWriter = new ResponseBodyWriter(this, _responsePipe.Writer);
        _responseBodyStream = new ResponseBodyStream(this, _responseBodyWriter);
    }

    public int StreamId { get; private set; }

    /// <summary>Which use of this pooled object is current; it stamps every message the stream posts (see <see cref="ServeLoopMessage.IsStale"/>).</summary>
    public int Generation { get; private set; }

    public Http2Connection Connection => _connection;

    // ---- Serve-loop state: written by the serve loop only. SuppressResponseBody and the handler-side values the loop
    // reads (response status, headers, trailers, content length, requested reset) are published by the handler before
    // it starts or completes the response, and read by the loop only after it has seen that start or completion. ----

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

    /// <summary>Response DATA bytes sent.</summary>
    public long ResponseBytesSent { get; set; }

    /// <summary>How long the response has had data held back by the client (for the minimum response data rate).</summary>
    public TimeSpan ResponseBlockedTime { get; set; }

    public long? DeclaredContentLength { get; set; }

    /// <summary>Incoming DATA is counted for flow control and dropped (the application is done with the body or it was refused).</summary>
    public bool DiscardingRequestBody { get; set; }

    public bool ResponseHeadersSent { get; set; }

    public bool ApplicationCompleted { get; set; }

    public bool ApplicationStarted { get; set; }

    /// <summary>The stream waits in the connection's queue for a handler slot.</summary>
    public bool WaitingToRun { get; set; }

    /// <summary>RequestAborted is being fired on the thread pool: its callbacks may still use the stream, so it is not recycled yet.</summary>
    public bool AbortCallbacksPending { get; set; }

    /// <summary>The stream is queued in the write scheduler.</summary>
    public bool IsScheduled { get; set; }

    /// <summary>The stream has data but no window (its own or the connection's) and waits for a WINDOW_UPDATE.</summary>
    public bool IsWaitingForWindow { get; set; }

    /// <summary>Set when the response must go out with no body: the 500 that replaces a failed handler's response, or HEAD.</summary>
    public bool SuppressResponseBody { get; set; }

    // ---- IScheduledStream ----

    public string Method { get; private set; } = string.Empty;

    /// <summary>The raw <c>:path</c>.</summary>
    public string Path => RawTarget;

    public string? Authority { get; private set; }

    /// <summary>A CONNECT request: once answered with 2xx its stream is a tunnel that carries only DATA (RFC 9113 §8.5).</summary>
    public bool IsConnectRequest => ReferenceEquals(Method, Microsoft.AspNetCore.Http.HttpMethods.Connect);

    public Http2Priority ClientPriority { get; set; } = Http2Priority.Default;

    public Http2Priority? HandlerPriority
    {
        get
        {
            int code = _handlerPriorityCode;
            return code < 0 ? null : new Http2Priority(code >> 1, (code & 1) != 0);
        }
        set
        {
            _handlerPriorityCode = value is { } priority ? (priority.Urgency << 1) | (priority.Incremental ? 1 : 0) : -1;
            Post(ServeLoopMessageKind.StreamPriorityChanged);
        }
    }

    public object? SchedulerState { get; set; }

    // Written by the handler, read by the scheduler: packed into one int so that it is read whole.
    private volatile int _handlerPriorityCode = -1;

    /// <summary>
    /// Called on the serve loop when the stream ends abnormally: wakes the handler's pending reads and writes and, while
    /// the handler runs, fires RequestAborted (then <see cref="AbortCallbacksPending"/> holds the stream until it has).
    /// </summary>
    public void Abort(Http2ErrorCode errorCode)
    {
        _requestPipe.Writer.Complete(new IOException($"The HTTP/2 stream was reset ({errorCode})."));
        _responsePipe.Reader.Complete();
        AbandonResponse();
        if (ApplicationStarted && !ApplicationCompleted)
        {
            AbortCallbacksPending = true;
            CancelRequestAborted();
        }
    }

    /// <summary>Called on the serve loop for a response the engine makes itself, before any handler ran (431).</summary>
    public void RespondWithStatus(int statusCode)
    {
        _statusCode = statusCode;
        _responseHeaders.ContentLength = 0;
        _responseHeaders.IsReadOnly = true;
        _responseStarted = true;
        _responseCompleted = true;
        _responsePipe.Writer.Complete();
    }

    /// <summary>The client's priority from the <c>priority</c> request header (RFC 9218 §5), if it sent one.</summary>
    public bool TryGetRequestPriority(out Http2Priority priority)
    {
        if (!_requestHeaders.TryGetValue("priority", out var values) || values.Count == 0 || values[0] is not { Length: > 0 and <= Http2Priority.MaxFieldValueLength } value)
        {
            priority = default;
            return false;
        }

        Span<byte> bytes = stackalloc byte[value.Length];
        for (int i = 0; i < value.Length; i++)
        {
            bytes[i] = (byte)value[i];
        }

        priority = Http2Priority.Parse(bytes, Http2Priority.Default);
        return true;
    }

    /// <summary>IThreadPoolWorkItem: runs the application for this stream off the serve loop.</summary>
    public void Execute() => _ = _connection.Application.RunAsync(this);

    public void Post(ServeLoopMessageKind kind, long value = 0, long value2 = 0) =>
        _connection.Post(new ServeLoopMessage(kind, this, Generation, value, value2));
}
