using H2Middleware.Protocol;
using H2Middleware.Scheduling;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Streams;

/// <summary>
/// Streams are pooled per connection: what is per-stream (pipes, header collections, the feature collection and,
/// through <c>IHostContextContainer</c>, the host's HttpContext) is made once and reused, so a request allocates little.
/// </summary>
internal partial class Http2Stream
{
    /// <summary>Starts a use of this stream object for a new stream id. Called on the serve loop.</summary>
    public void Initialize(int streamId, int sendWindow, int receiveWindow)
    {
        StreamId = streamId;
        Generation++;
        SendWindow.Reset(sendWindow);
        ReceiveWindow.Reset(receiveWindow);
        _maxRequestBodySize = _connection.Options.MaxRequestBodySize;
        _allowSynchronousIO = _connection.Options.AllowSynchronousIO;
        _minRequestBodyDataRate = _connection.Options.MinRequestBodyDataRate;
        _minResponseDataRate = _connection.Options.MinResponseDataRate;
        InitializeConnectionFeature();
    }

    /// <summary>
    /// Clears every per-stream state so the object can serve another stream. Called on the serve loop once the stream
    /// is closed and its handler has returned (or never ran): nothing else holds it any more.
    /// </summary>
    public void Reset()
    {
        CompleteAndResetPipes();
        ResetProtocolState();
        ResetRequest();
        ResetResponse();
        ResetLifetime();
        _setFeatures.Clear();
        _featureRevision++;
    }

    private void CompleteAndResetPipes()
    {
        _requestPipe.Reader.Complete();
        _requestPipe.Writer.Complete();
        _requestPipe.Reset();
        _responsePipe.Reader.Complete();
        _responsePipe.Writer.Complete();
        _responsePipe.Reset();
        _requestBodyReader.Reset();
    }

    private void ResetProtocolState()
    {
        Lifecycle.Reset();
        RequestBodyReceived = 0;
        RequestBodyDelivered = 0;
        RequestBodyConsumed = 0;
        RequestBodyExamined = 0;
        RequestBodyReleased = 0;
        RequestBodyWaitTime = TimeSpan.Zero;
        ResponseBytesSent = 0;
        ResponseBlockedTime = TimeSpan.Zero;
        DeclaredContentLength = null;
        DiscardingRequestBody = false;
        ResponseHeadersSent = false;
        ApplicationCompleted = false;
        ApplicationStarted = false;
        IsScheduled = false;
        IsWaitingForWindow = false;
        WaitingToRun = false;
        AbortCallbacksPending = false;
        SuppressResponseBody = false;
        ClientPriority = Http2Priority.Default;
        SchedulerState = null;
        _handlerPriorityCode = -1;
    }

    private void ResetRequest()
    {
        IHttpRequestFeature request = this;
        request.Protocol = HttpProtocol.Http2;
        request.PathBase = string.Empty;
        request.Path = string.Empty;
        request.QueryString = string.Empty;
        Method = string.Empty;
        Scheme = string.Empty;
        RawTarget = string.Empty;
        Authority = null;
        CanHaveBody = false;
        _requestHeaders.Clear();
        _requestTrailers?.Clear();
        _pseudoHeadersSeen = PseudoHeaders.None;
        _sawRegularHeader = false;
        _decodingTrailers = false;
        _malformedReason = null;
        _cookies?.Clear();
        _host = null;
        _replacedRequestBody = null;
        _replacedRequestBodyReader = null;
        _traceIdentifier = null;
        _requestBodyComplete = false;
    }

    private void ResetResponse()
    {
        _statusCode = StatusCodes.Status200OK;
        ((IHttpResponseFeature)this).ReasonPhrase = null;
        _responseHeaders.IsReadOnly = false;
        _responseHeaders.Clear();
        if (_responseTrailers is not null)
        {
            _responseTrailers.IsReadOnly = false;
            _responseTrailers.Clear();
        }

        _onStarting?.Clear();
        _onCompleted?.Clear();
        _replacedResponseBody = null;
        _responseStarted = false;
        _responseCompleted = false;
        _responseAbandoned = false;
        _outputNotificationPending = 0;
        _pendingDirectWrite = null;
        ResponseContentLength = null;
        ResponseBytesWritten = 0;
    }

    private void ResetLifetime()
    {
        // A source that was cancelled cannot be reset; the stream is only reused once its callbacks have run.
        if (!_requestAbortedSource.TryReset())
        {
            _requestAbortedSource = new CancellationTokenSource();
        }

        _requestAborted = null;
        _requestedReset = NoResetRequested;
    }
}
