using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using H2Middleware.ServeLoop;

namespace H2Middleware.Streams;

/// <summary>
/// The response side as ASP.NET Core sees it. Runs on the handler's threads; the serve loop reads the status,
/// headers and trailers only after the handler has frozen them (start, completion) and told it so by message.
/// </summary>
internal partial class Http2Stream : IHttpResponseFeature, IHttpResponseBodyFeature, IHttpResponseTrailersFeature
{
    private readonly ResponseBuffer _responseBuffer;
    private readonly ResponseBodyWriter _responseBodyWriter;
    private readonly ResponseBodyStream _responseBodyStream;
    private readonly HeaderFieldDictionary _responseHeaders = new();
    private HeaderFieldDictionary? _responseTrailers;
    private Stack<KeyValuePair<Func<object, Task>, object>>? _onStarting;
    private Stack<KeyValuePair<Func<object, Task>, object>>? _onCompleted;
    private Stream? _replacedResponseBody;
    private int _statusCode = StatusCodes.Status200OK;
    private volatile bool _responseStarted;
    private volatile bool _responseCompleted;

    // Completed as a whole response (not failed short of its length, or by an error): a later reset follows it.
    private volatile bool _responseCompletedWhole;
    private volatile bool _responseAbandoned;
    private int _outputNotificationPending;
    private DirectWriteCompletion _directWriteCompletion = new();

    // An OnStarting callback failed: the response is lost to it, as under Kestrel (later writes fail, and the client
    // gets a 500 if nothing was sent).
    private Exception? _startFailure;

    // Published by the handler (after filling it), cleared by the serve loop before it completes the handler's write:
    // the loop reads the buffer only through this reference, so it never sees the handler's next write half-made.
    private DirectWriteCompletion? _pendingDirectWrite;

    public int StatusCode => _statusCode;

    public HeaderFieldDictionary ResponseHeaders => _responseHeaders;

    public HeaderFieldDictionary? ResponseTrailers => _responseTrailers;

    public bool HasResponseStarted => _responseStarted;

    public bool HasResponseCompleted => _responseCompleted;

    /// <summary>The declared response Content-Length, fixed when the response starts.</summary>
    public long? ResponseContentLength { get; private set; }

    /// <summary>Response body bytes the handler has written (counted on the handler's side).</summary>
    public long ResponseBytesWritten { get; set; }

    /// <summary>The response body as the serve loop reads it.</summary>
    public ResponseBuffer ResponseBody => _responseBuffer;

    int IHttpResponseFeature.StatusCode
    {
        get => _statusCode;
        set
        {
            if (_responseStarted)
            {
                throw new InvalidOperationException("StatusCode cannot be set because the response has already started.");
            }

            _statusCode = value;
        }
    }

    string? IHttpResponseFeature.ReasonPhrase { get; set; }

    IHeaderDictionary IHttpResponseFeature.Headers
    {
        get => _responseHeaders;
        set => throw new NotSupportedException("The response headers of an HTTP/2 stream cannot be replaced.");
    }

    Stream IHttpResponseFeature.Body
    {
        get => _replacedResponseBody ?? _responseBodyStream;
        set => _replacedResponseBody = ReferenceEquals(value, _responseBodyStream) ? null : value;
    }

    bool IHttpResponseFeature.HasStarted => _responseStarted;

    void IHttpResponseFeature.OnStarting(Func<object, Task> callback, object state)
    {
        if (_responseStarted)
        {
            throw new InvalidOperationException("OnStarting cannot be registered because the response has already started.");
        }

        (_onStarting ??= new()).Push(new(callback, state));
    }

    void IHttpResponseFeature.OnCompleted(Func<object, Task> callback, object state) => (_onCompleted ??= new()).Push(new(callback, state));

    IHeaderDictionary IHttpResponseTrailersFeature.Trailers
    {
        // Made on first use; made after the response completed, it is as frozen as one made before (Kestrel's too).
        get => _responseTrailers ??= new HeaderFieldDictionary { IsReadOnly = _responseCompleted };
        set => throw new NotSupportedException("The response trailers of an HTTP/2 stream cannot be replaced.");
    }

    Stream IHttpResponseBodyFeature.Stream => _responseBodyStream;

    PipeWriter IHttpResponseBodyFeature.Writer => _responseBodyWriter;

    void IHttpResponseBodyFeature.DisableBuffering()
    {
        // Every flush already goes straight to the serve loop; there is no extra buffering to turn off.
    }

    Task IHttpResponseBodyFeature.StartAsync(CancellationToken cancellationToken) => StartResponseAsync();

    Task IHttpResponseBodyFeature.SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken) =>
        SendFileFallback.SendFileAsync(_responseBodyStream, path, offset, count, cancellationToken);

    Task IHttpResponseBodyFeature.CompleteAsync() => CompleteResponseAsync();

    /// <summary>Runs the OnStarting callbacks (last registered first), freezes the headers and hands them to the serve loop.</summary>
    public Task StartResponseAsync()
    {
        if (_responseStarted)
        {
            return Task.CompletedTask;
        }

        if (_startFailure is not null)
        {
            throw new ObjectDisposedException("The response has been aborted due to an unhandled application exception.", _startFailure);
        }

        return _onStarting is { Count: > 0 } ? FireOnStartingThenStartAsync() : StartNow();

        async Task FireOnStartingThenStartAsync()
        {
            try
            {
                while (_onStarting.TryPop(out var callback))
                {
                    await callback.Key(callback.Value);
                }
            }
            catch (Exception error)
            {
                _onStarting.Clear();
                _startFailure = error;
                LogApplicationError(error);
                throw;
            }

            await StartNow();
        }
    }

    private Task StartNow()
    {
        if (_responseStarted)
        {
            return Task.CompletedTask;
        }

        ResponseContentLength = _responseHeaders.ContentLength;
        if (ResponseContentLength is { } declared && ResponseBytesWritten > declared && !SuppressResponseBody)
        {
            throw new InvalidOperationException($"Response Content-Length mismatch: too many bytes written ({ResponseBytesWritten} of {declared}).");
        }

        _responseHeaders.IsReadOnly = true;
        _responseStarted = true;
        NotifyOutputReady();
        return Task.CompletedTask;
    }

    /// <summary>Ends the response: starts it if needed, freezes the trailers and completes the body.</summary>
    /// <remarks>Synchronous unless an OnStarting callback is: most responses end without an async state machine.</remarks>
    public Task CompleteResponseAsync()
    {
        if (_responseCompleted)
        {
            return Task.CompletedTask;
        }

        Task start;
        try
        {
            start = StartResponseAsync();
        }
        catch (Exception error)
        {
            // As from an async method: the caller sees the failure when it awaits.
            return Task.FromException(error);
        }

        if (!start.IsCompletedSuccessfully)
        {
            return StartThenCompleteAsync(start);
        }

        CompleteStartedResponse();
        return Task.CompletedTask;
    }

    private async Task StartThenCompleteAsync(Task start)
    {
        await start;
        CompleteStartedResponse();
    }

    private void CompleteStartedResponse()
    {
        if (!_responseAbandoned && ResponseContentLength is { } declared && ResponseBytesWritten < declared && !HasNoBody)
        {
            _responseCompleted = true;
            Http2Log.ResponseInvalid(_port.Logger, _port.ConnectionId, StreamId,
                $"Content-Length mismatch: too few bytes written ({ResponseBytesWritten} of {declared}).");
            // The reset is requested first so that the serve loop never mistakes the completed body for a complete response.
            RequestReset(Frames.Http2ErrorCode.InternalError);
            _responseBuffer.CompleteWriting();
            return;
        }

        if (_responseTrailers is not null)
        {
            _responseTrailers.IsReadOnly = true;
        }

        _responseCompleted = true;
        _responseCompletedWhole = true;
        _responseBuffer.CompleteWriting();
        NotifyOutputReady();
    }

    /// <summary>
    /// Called after the handler returned. A failure before the response started becomes a 500 (or the status a
    /// <see cref="BadHttpRequestException"/> names) with no body; after it started, the stream is reset.
    /// </summary>
    public Task FinishAfterApplicationAsync(Exception? error)
    {
        if (error is null && !_responseStarted)
        {
            error = _startFailure ?? NothingWrittenOfDeclaredLength();
        }

        if (error is not null && !_responseCompleted)
        {
            if (_responseStarted)
            {
                _responseCompleted = true;
                RequestReset(Frames.Http2ErrorCode.InternalError);
                _responseBuffer.CompleteWriting();
                return Task.CompletedTask;
            }

            ReplaceWithErrorResponse(error);
        }

        Task completion;
        try
        {
            completion = CompleteResponseAsync();
        }
        catch (Exception completionError)
        {
            completion = Task.FromException(completionError);
        }

        return completion.IsCompletedSuccessfully ? completion : ObserveCompletionAsync(completion);
    }

    /// <summary>
    /// A response that failed to complete (an OnStarting callback threw): a 500 if nothing was sent yet, as from a handler
    /// that threw, else a reset.
    /// </summary>
    private async Task ObserveCompletionAsync(Task completion)
    {
        try
        {
            await completion;
        }
        catch (Exception completionError)
        {
            if (completionError != _startFailure)
            {
                LogApplicationError(completionError);
            }

            if (_responseStarted)
            {
                RequestReset(Frames.Http2ErrorCode.InternalError);
                return;
            }

            ReplaceWithErrorResponse(completionError);
            await CompleteResponseAsync();
        }
    }

    /// <summary>A response with no body whatever its Content-Length says: to HEAD, a 304, or the engine's own error response.</summary>
    private bool HasNoBody => SuppressResponseBody || _statusCode == StatusCodes.Status304NotModified;

    /// <summary>
    /// A handler that declared a Content-Length, wrote nothing and returned before the response started: a 500 rather
    /// than headers followed by a reset, as Kestrel does.
    /// </summary>
    private InvalidOperationException? NothingWrittenOfDeclaredLength()
    {
        if (ResponseBytesWritten != 0 || _responseHeaders.ContentLength is not > 0 || HasNoBody)
        {
            return null;
        }

        string problem = $"Response Content-Length mismatch: too few bytes written (0 of {_responseHeaders.ContentLength}).";
        Http2Log.ResponseInvalid(_port.Logger, _port.ConnectionId, StreamId, problem);
        return new InvalidOperationException(problem);
    }

    /// <summary>The response the client gets instead of the handler's when the handler failed before anything was sent.</summary>
    private void ReplaceWithErrorResponse(Exception error)
    {
        _onStarting?.Clear();
        _startFailure = null;
        _statusCode = error is BadHttpRequestException badRequest ? badRequest.StatusCode : StatusCodes.Status500InternalServerError;
        _responseHeaders.Clear();
        _responseHeaders.ContentLength = 0;
        _responseTrailers?.Clear();
        SuppressResponseBody = true;
    }

    /// <summary>Runs the OnCompleted callbacks, last registered first; their failures are logged, not thrown.</summary>
    public Task FireOnCompletedAsync() => _onCompleted is { Count: > 0 } callbacks ? FireAsync(callbacks) : Task.CompletedTask;

    private async Task FireAsync(Stack<KeyValuePair<Func<object, Task>, object>> callbacks)
    {
        while (callbacks.TryPop(out var callback))
        {
            try
            {
                await callback.Key(callback.Value);
            }
            catch (Exception error)
            {
                LogApplicationError(error);
            }
        }
    }

    /// <summary>Tells the serve loop there is output, at most once until it has looked.</summary>
    public void NotifyOutputReady()
    {
        if (Interlocked.Exchange(ref _outputNotificationPending, 1) == 0)
        {
            Post(ServeLoopMessageKind.StreamOutputReady);
        }
    }

    /// <summary>
    /// Called by the serve loop before it looks for output, so that later output notifies it again. A full fence:
    /// the loop's look must not move before this reset, or output published in between would never be announced.
    /// </summary>
    public void AcknowledgeOutputNotification() => Interlocked.Exchange(ref _outputNotificationPending, 0);

    /// <summary>A handler's buffer the serve loop is sending without copying it into the pipe; empty when none.</summary>
    public ReadOnlyMemory<byte> DirectWrite => Volatile.Read(ref _pendingDirectWrite)?.Buffer ?? default;

    public bool HasDirectWrite => Volatile.Read(ref _pendingDirectWrite) is not null;

    /// <summary>The stream was reset or its connection closed: whatever the handler still writes is dropped.</summary>
    public bool IsResponseAbandoned => _responseAbandoned;

    /// <summary>
    /// Called by the handler's writer for a large buffer when the pipe holds nothing unflushed: the serve loop sends
    /// the buffer from the handler's memory, saving a copy, and the returned task completes once it has all been written
    /// or the stream is abandoned.
    /// </summary>
    public ValueTask<FlushResult> WriteDirectAsync(ReadOnlyMemory<byte> buffer)
    {
        DirectWriteCompletion write = _directWriteCompletion;
        write.Buffer = buffer;
        ValueTask<FlushResult> completion = write.Start();
        Interlocked.Exchange(ref _pendingDirectWrite, write);
        // The loop sets _responseAbandoned and then takes the pending write; a write published after its look is ours to abandon.
        if (_responseAbandoned)
        {
            TakeAndAbandonDirectWrite();
        }
        else
        {
            NotifyOutputReady();
        }

        return completion;
    }

    /// <summary>Called on the serve loop after it sent <paramref name="bytes"/> of the direct write.</summary>
    public void ConsumeDirectWrite(int bytes)
    {
        DirectWriteCompletion write = _pendingDirectWrite!;
        write.Buffer = write.Buffer[bytes..];
        if (write.Buffer.IsEmpty && Interlocked.CompareExchange(ref _pendingDirectWrite, null, write) == write)
        {
            write.Complete(abandoned: false);
        }
    }

    /// <summary>Called on the serve loop when the stream ends abnormally: the handler's pending and later writes complete at once.</summary>
    private void AbandonResponse()
    {
        _responseAbandoned = true;
        TakeAndAbandonDirectWrite();
    }

    /// <summary>Completes the pending direct write as abandoned. The handler and the loop may both try; the exchange lets only one complete it.</summary>
    private void TakeAndAbandonDirectWrite()
    {
        DirectWriteCompletion? write = Interlocked.Exchange(ref _pendingDirectWrite, null);
        if (write is not null)
        {
            write.Buffer = default;
            write.Complete(abandoned: true);
        }
    }
}
