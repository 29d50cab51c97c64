using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.ServeLoop;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace H2Middleware.Streams;

/// <summary>Lifetime and identity of the stream as the handler sees them: abort, reset, stream id, priority, sync IO.</summary>
internal partial class Http2Stream :
    IHttpRequestLifetimeFeature,
    IHttpResetFeature,
    IHttp2StreamIdFeature,
    IHttpBodyControlFeature,
    IHttp2StreamPriorityFeature
{
    private CancellationTokenSource _requestAbortedSource = new();
    private bool _requestAbortScheduled;
    private CancellationToken? _requestAborted;
    private bool _allowSynchronousIO;
    private int _abortRequested;

    CancellationToken IHttpRequestLifetimeFeature.RequestAborted
    {
        get => _requestAborted ?? _requestAbortedSource.Token;
        set => _requestAborted = value;
    }

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

    private void RequestReset(Http2ErrorCode errorCode)
    {
        if (Interlocked.Exchange(ref _abortRequested, 1) == 0)
        {
            Post(ServeLoopMessageKind.StreamResetByApplication, (long)errorCode);
        }
    }

    /// <summary>
    /// Fires RequestAborted on the thread pool: the serve loop must never run the handler's callbacks.
    /// </summary>
    private void CancelRequestAborted()
    {
        _requestAbortScheduled = true;
        ThreadPool.UnsafeQueueUserWorkItem(static source =>
        {
            try
            {
                source.Cancel();
            }
            catch (AggregateException)
            {
                // A handler's cancellation callback threw; the stream is gone either way.
            }
        }, _requestAbortedSource, preferLocal: false);
    }
}
