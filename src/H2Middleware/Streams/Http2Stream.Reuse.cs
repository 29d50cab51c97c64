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
    public void Initialize(int streamId)
    {
        StreamId = streamId;
        _maxRequestBodySize = _port.Options.MaxRequestBodySize;
        _allowSynchronousIO = _port.Options.AllowSynchronousIO;
        _minRequestBodyDataRate = _port.Options.MinRequestBodyDataRate;
        _minResponseDataRate = _port.Options.MinResponseDataRate;
        InitializeConnectionFeature();
    }

    /// <summary>
    /// Clears every per-stream state so the object can serve another stream. Called on the serve loop once the stream
    /// is closed and nothing of its handler holds it any more.
    /// </summary>
    public void Reset()
    {
        CompleteAndResetPipes();
        ResetRequest();
        ResetResponse();
        ResetLifetime();
        ResetSchedulingTelemetry();
        ResetExtendedConnect();
        _setFeatures.Clear();
        _featureRevision++;
    }

    /// <summary>
    /// The connection ended with the stream still in its table, its handler returned: the blocks of its request body and
    /// its response go back to the pool.
    /// </summary>
    public void ReleaseMemory()
    {
        if (!RequestBodyAbsent)
        {
            _requestPipe.Reader.Complete();
            _requestPipe.Writer.Complete();
        }

        _responseBuffer.ReleaseBlock();
    }

    private void CompleteAndResetPipes()
    {
        if (!RequestBodyAbsent)
        {
            _requestPipe.Reader.Complete();
            _requestPipe.Writer.Complete();
            _requestPipe.Reset();
        }

        _responseBuffer.Reset();
        _requestBodyReader.Reset();
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
        RequestBodyAbsent = false;
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
        DeclaredContentLength = null;
        _clientPriorityCode = NoPriority;
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
        _responseCompletedWhole = false;
        _responseAbandoned = false;
        _outputNotificationPending = 0;
        _pendingDirectWrite = null;
        _startFailure = null;
        if (_directWriteCompletion.IsCompleting)
        {
            _directWriteCompletion = new DirectWriteCompletion();
        }

        ResponseContentLength = null;
        ResponseBytesWritten = 0;
        SuppressResponseBody = false;
        _handlerPriorityCode = NoPriority;
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
