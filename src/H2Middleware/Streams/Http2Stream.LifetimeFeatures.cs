using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.ServeLoop;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace H2Middleware.Streams;

/// <summary>Lifetime and identity of the stream as the handler sees them: abort, reset, stream id, priority, sync IO, data rates.</summary>
internal partial class Http2Stream :
    IHttpRequestLifetimeFeature,
    IHttpResetFeature,
    IHttp2StreamIdFeature,
    IHttpBodyControlFeature,
    IHttp2StreamPriorityFeature,
    IHttpMinRequestBodyDataRateFeature,
    IHttpMinResponseDataRateFeature
{
    private const long NoResetRequested = -1;

    // Marks a requested reset that came after the response completed whole: the response still goes out, then the reset.
    private const long FollowsCompleteResponse = 1L << 32;

    private CancellationTokenSource _requestAbortedSource = new();
    private CancellationToken? _requestAborted;
    private bool _allowSynchronousIO;
    private volatile MinDataRate? _minRequestBodyDataRate;
    private volatile MinDataRate? _minResponseDataRate;

    // The error code of a reset the handler side asked for, set once per use and before the response pipe completes:
    // the serve loop, having seen the pipe complete, reads it to tell a failed response from a complete one.
    private long _requestedReset = NoResetRequested;

    CancellationToken IHttpRequestLifetimeFeature.RequestAborted
    {
        get => _requestAborted ?? _requestAbortedSource.Token;
        set => _requestAborted = value;
    }

    /// <summary>The token RequestAborted returns unless the application replaced it.</summary>
    public CancellationToken RequestAbortedToken => _requestAbortedSource.Token;

    /// <summary>The handler gives up on the request: the stream is reset with INTERNAL_ERROR (as Kestrel does).</summary>
    void IHttpRequestLifetimeFeature.Abort() => RequestReset(Http2ErrorCode.InternalError);

    void IHttpResetFeature.Reset(int errorCode) => RequestReset((Http2ErrorCode)(uint)errorCode);

    int IHttp2StreamIdFeature.StreamId => StreamId;

    bool IHttpBodyControlFeature.AllowSynchronousIO
    {
        get => _allowSynchronousIO;
        set => _allowSynchronousIO = value;
    }

    public bool AllowSynchronousIO => _allowSynchronousIO;

    Http2Priority IHttp2StreamPriorityFeature.ClientPriority => ClientPriority;

    MinDataRate? IHttpMinRequestBodyDataRateFeature.MinDataRate
    {
        get => _minRequestBodyDataRate;
        set => _minRequestBodyDataRate = value;
    }

    MinDataRate? IHttpMinResponseDataRateFeature.MinDataRate
    {
        get => _minResponseDataRate;
        set => _minResponseDataRate = value;
    }

    /// <summary>The handler's choice, read by the serve loop on its heartbeat.</summary>
    public MinDataRate? MinRequestBodyDataRate => _minRequestBodyDataRate;

    /// <summary>The handler's choice, read by the serve loop on its heartbeat.</summary>
    public MinDataRate? MinResponseDataRate => _minResponseDataRate;

    /// <summary>Called on the serve loop when the client sends the body too slowly: the handler's read fails with 408.</summary>
    public void FailRequestBodyTooSlow() =>
        _requestPipe.Writer.Complete(new Microsoft.AspNetCore.Http.BadHttpRequestException(
            "Reading the request body timed out due to data arriving too slowly. See MinRequestBodyDataRate.", StatusCodes.Status408RequestTimeout));

    /// <summary>
    /// Called on the serve loop when the handler waits for more of the body before consuming any, holding more than
    /// the stream may buffer: the client may send nothing more until it consumes, so the handler's read fails with 413.
    /// </summary>
    public void FailRequestBodyOverBuffer(long limit) =>
        _requestPipe.Writer.Complete(new Microsoft.AspNetCore.Http.BadHttpRequestException(
            $"The request body was read without being consumed past the {limit} bytes a stream may buffer. See MaxRequestBufferSizePerStream.",
            StatusCodes.Status413PayloadTooLarge));

    /// <summary>Asks the serve loop to reset the stream; only the first request of a use counts.</summary>
    public void RequestReset(Http2ErrorCode errorCode)
    {
        long requested = (uint)errorCode | (_responseCompletedWhole ? FollowsCompleteResponse : 0);
        if (Interlocked.CompareExchange(ref _requestedReset, requested, NoResetRequested) == NoResetRequested)
        {
            Post(ServeLoopMessageKind.StreamResetByApplication, (uint)errorCode);
        }
    }

    /// <summary>
    /// Read by the serve loop after it saw the response pipe complete: whether that completion ends a reset instead of a
    /// response. A reset asked for after the response completed whole does not: that response is sent first.
    /// </summary>
    public bool TryGetRequestedReset(out Http2ErrorCode errorCode)
    {
        long requested = Volatile.Read(ref _requestedReset);
        errorCode = (Http2ErrorCode)(uint)requested;
        return requested != NoResetRequested && (requested & FollowsCompleteResponse) == 0;
    }

    /// <summary>The handler reset the stream after completing its response whole (gRPC does, past a deadline).</summary>
    public bool ResetFollowsCompleteResponse
    {
        get
        {
            long requested = Volatile.Read(ref _requestedReset);
            return requested != NoResetRequested && (requested & FollowsCompleteResponse) != 0;
        }
    }

    /// <summary>
    /// Called on the serve loop for a stream that ended abnormally while its handler runs: fires RequestAborted on the
    /// thread pool (the serve loop must never run the handler's callbacks), then tells the loop that the callbacks are
    /// over, so that it does not reuse the stream while one of them could still touch it.
    /// </summary>
    public void FireRequestAborted()
    {
        ThreadPool.UnsafeQueueUserWorkItem(static stream =>
        {
            stream.CancelRequestAborted();
            stream.Post(ServeLoopMessageKind.StreamAbortDelivered);
        }, this, preferLocal: false);
    }

    /// <summary>
    /// Cancels RequestAborted on the calling thread (never the serve loop's), running the handler's callbacks; it may be
    /// called from the thread pool and from a handler's failed read at once, and the callbacks run once.
    /// </summary>
    public void CancelRequestAborted()
    {
        try
        {
            _requestAbortedSource.Cancel();
        }
        catch (AggregateException)
        {
            // A handler's cancellation callback threw; the stream is gone either way.
        }
    }
}
