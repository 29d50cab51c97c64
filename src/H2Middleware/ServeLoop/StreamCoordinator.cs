using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.Scheduling;
using Microsoft.Extensions.Logging;

namespace H2Middleware.ServeLoop;

/// <summary>
/// What happens to a stream on the serve loop between its opening and its recycling: its request ends, its handler
/// runs and returns, its response ends, it is reset (by us, the client or its handler) and closes, and finally, once
/// nothing of its handler side can touch it, its entry is recycled. Every transition goes through
/// <see cref="StreamLifecycle.Apply"/>; what a close means for the connection (counts, error budget, the handler's
/// RequestAborted, the send queue) happens here, once.
/// </summary>
internal sealed class StreamCoordinator : IStreamOutputEvents
{
    private readonly StreamTable _streams;
    private readonly HandlerSlots _handlers;
    private readonly RequestBodyFlow _requestBodies;
    private readonly SendQueue _sendQueue;
    private readonly ControlFrameQueue _controlFrames;
    private readonly ClientErrorBudget _clientErrors;
    private readonly LoopClock _clock;
    private readonly ILogger _logger;
    private readonly string _connectionId;
    private readonly Action _streamEnded;

    /// <param name="streamEnded">Called after a stream closed or its handler returned: a draining connection may close.</param>
    public StreamCoordinator(
        StreamTable streams,
        HandlerSlots handlers,
        RequestBodyFlow requestBodies,
        IWriteScheduler scheduler,
        ControlFrameQueue controlFrames,
        ClientErrorBudget clientErrors,
        LoopClock clock,
        ILogger logger,
        string connectionId,
        Action streamEnded)
    {
        _streams = streams;
        _handlers = handlers;
        _requestBodies = requestBodies;
        _controlFrames = controlFrames;
        _clientErrors = clientErrors;
        _clock = clock;
        _logger = logger;
        _connectionId = connectionId;
        _streamEnded = streamEnded;
        _sendQueue = new SendQueue(scheduler, this, clock);
        IdleSince = clock.Now;
    }

    /// <summary>The streams that have something to send; the write side reports their responses' ends here.</summary>
    public SendQueue SendQueue => _sendQueue;

    /// <summary>When the last open stream closed: the keep-alive clock runs from here.</summary>
    public long IdleSince { get; private set; }

    /// <summary>The request's last frame (END_STREAM) arrived, after a body whose length must match its content-length.</summary>
    public void OnRequestBodyEnd(StreamEntry stream)
    {
        if (stream.Stream.DeclaredContentLength is { } declared && stream.RequestBodyReceived != declared && !stream.DiscardingRequestBody)
        {
            Reject(stream, Http2ErrorCode.ProtocolError, ConnectionEndReason.InvalidContentLength, "request body shorter than content-length");
            return;
        }

        bool closed = stream.Lifecycle.Apply(StreamEvent.EndStreamReceived);
        stream.Stream.CompleteRequestBody();
        if (closed)
        {
            OnClosed(stream, Http2ErrorCode.NoError);
        }
    }

    /// <summary>Answers a request the handler never sees (431 for an oversized header list).</summary>
    public void RespondWithoutApplication(StreamEntry stream, int statusCode, bool requestEnded)
    {
        stream.Stream.SetRequestHasBody(!requestEnded);
        if (requestEnded)
        {
            stream.Lifecycle.Apply(StreamEvent.EndStreamReceived);
        }

        stream.ApplicationCompleted = true;
        _requestBodies.StopReceiving(stream);
        stream.Stream.RespondWithStatus(statusCode);
        _sendQueue.Evaluate(stream);
    }

    /// <summary>The stream's handler returned: its slot goes to a waiting stream, and a response that ended before the request ends the stream.</summary>
    public void OnApplicationCompleted(StreamEntry stream)
    {
        _handlers.OnCompleted();
        stream.ApplicationCompleted = true;
        _requestBodies.StopReceiving(stream);
        if (stream.IsClosed)
        {
            ReleaseIfUnused(stream);
        }
        else if (stream.LocalClosed && !stream.RemoteClosed)
        {
            // RFC 9113 §8.1: the response is complete; ask the client to stop sending the request without error.
            Reset(stream, Http2ErrorCode.NoError, "response complete before the request");
        }

        while (_handlers.TryTakeWaiting(out StreamEntry? waiting))
        {
            if (waiting.IsClosed)
            {
                ReleaseIfUnused(waiting);
            }
            else
            {
                _handlers.Run(waiting);
            }
        }

        _streamEnded();
    }

    /// <summary>The stream's RequestAborted callbacks have run: nothing of the aborted request holds the entry any more.</summary>
    public void OnAbortDelivered(StreamEntry stream)
    {
        stream.AbortCallbacksPending = false;
        ReleaseIfUnused(stream);
    }

    public void OnResponseHeadersSent(StreamEntry stream) => stream.Lifecycle.Apply(StreamEvent.HeadersSent);

    public void OnEndStreamSent(StreamEntry stream)
    {
        bool closed = stream.Lifecycle.Apply(StreamEvent.EndStreamSent);
        stream.Stream.ResponseBody.EndReading();
        if (closed)
        {
            OnClosed(stream, Http2ErrorCode.NoError);
        }
        else if (stream.ResetAfterResponse is { } errorCode)
        {
            Reset(stream, errorCode, "reset by the application after its response");
        }
        else if (stream.ApplicationCompleted)
        {
            Reset(stream, Http2ErrorCode.NoError, "response complete before the request");
        }
    }

    public void OnApplicationReset(StreamEntry stream, Http2ErrorCode errorCode)
    {
        if (stream.Stream.ResetFollowsCompleteResponse && !stream.LocalClosed && !stream.IsClosed)
        {
            // The handler completed its response before it reset the stream: the response goes out whole, as under
            // Kestrel (gRPC's status past a deadline travels in it), and the reset after its END_STREAM.
            stream.ResetAfterResponse = errorCode;
            return;
        }

        Reset(stream, errorCode, "reset by the application");
    }

    public void OnResponseInvalid(StreamEntry stream, string reason)
    {
        Http2Log.ResponseInvalid(_logger, _connectionId, stream.StreamId, reason);
        Reset(stream, Http2ErrorCode.InternalError, reason);
    }

    /// <summary>The client reset the stream (RST_STREAM).</summary>
    public void OnResetByClient(StreamEntry stream, Http2ErrorCode errorCode)
    {
        if (stream.Lifecycle.Apply(StreamEvent.ResetByClient))
        {
            Http2Log.StreamResetReceived(_logger, _connectionId, stream.StreamId, errorCode);
            OnClosed(stream, errorCode);
        }
    }

    /// <summary>Sends RST_STREAM and ends the stream on our side (RFC 9113 §5.4.2).</summary>
    public void Reset(StreamEntry stream, Http2ErrorCode errorCode, string reason)
    {
        if (stream.Lifecycle.Apply(StreamEvent.ResetByServer))
        {
            // Queuing the RST_STREAM fails on a flooded queue (a connection error), but the stream is closed either way:
            // its handler must be told and its entry released.
            try
            {
                QueueRstStream(stream.StreamId, errorCode, reason);
            }
            finally
            {
                OnClosed(stream, errorCode);
            }
        }
    }

    /// <summary>
    /// Closes a stream we reserved for a push whose PUSH_PROMISE was never sent: the client never heard of it, so no
    /// RST_STREAM goes out and its id is left to be implicitly closed (RFC 9113 §5.1.1).
    /// </summary>
    public void CloseUnannounced(StreamEntry stream)
    {
        if (stream.Lifecycle.Apply(StreamEvent.ResetByServer))
        {
            OnClosed(stream, Http2ErrorCode.Cancel);
        }
    }

    /// <summary>A stream error the client caused: the stream is reset and the client's error budget drawn.</summary>
    public void Reject(StreamEntry stream, Http2ErrorCode errorCode, ConnectionEndReason cause, string reason)
    {
        ChargeClientError(cause);
        Reset(stream, errorCode, reason);
    }

    /// <summary>Draws on the client's error budget; an exhausted budget is a connection error.</summary>
    public void ChargeClientError(ConnectionEndReason cause)
    {
        if (!_clientErrors.TryDraw(cause))
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, cause.ToString());
        }
    }

    /// <summary>RST_STREAM for an id, whether or not it has an entry; frames the client sent before seeing it are ignored.</summary>
    public void QueueRstStream(int streamId, Http2ErrorCode errorCode, string reason)
    {
        Http2Log.StreamResetSent(_logger, _connectionId, streamId, errorCode, reason);
        _streams.RememberReset(streamId);
        _controlFrames.Enqueue(new ControlFrame(ControlFrameKind.RstStream, streamId, (long)errorCode));
    }

    /// <summary>The connection is ending: every stream still open is reset, and no waiting handler will run.</summary>
    public void AbortAll(Http2ErrorCode errorCode)
    {
        foreach (StreamEntry stream in _streams.Entries)
        {
            if (stream.Lifecycle.Apply(StreamEvent.ResetByServer))
            {
                OnClosed(stream, errorCode);
            }
        }

        _handlers.ClearWaiting();
    }

    /// <summary>
    /// The stream just reached "closed" (the transition that closed it says so, once): it no longer counts against the
    /// limit, and a handler still running on a stream that ended abnormally is told.
    /// </summary>
    private void OnClosed(StreamEntry stream, Http2ErrorCode errorCode)
    {
        // The send queue first: it settles the stream's waits, which the table's metrics record.
        _sendQueue.OnStreamClosed(stream);
        _streams.OnClosed(stream);
        if (!stream.WasReset && stream.ApplicationStarted)
        {
            // Real progress: the application answered a request.
            _clientErrors.Refill();
        }

        if (_streams.OpenCount == 0)
        {
            IdleSince = _clock.Now;
        }

        if (stream.WasReset)
        {
            stream.Stream.Abort(errorCode);
            if (stream.ApplicationStarted && !stream.ApplicationCompleted)
            {
                stream.AbortCallbacksPending = true;
                stream.Stream.FireRequestAborted();
            }

            _requestBodies.StopReceiving(stream);
        }

        ReleaseIfUnused(stream);
        _streamEnded();
    }

    /// <summary>
    /// Recycles a closed entry once nothing of its handler side can touch it any more: its handler returned or never ran
    /// and no longer waits for a slot, and its RequestAborted callbacks have run.
    /// </summary>
    private void ReleaseIfUnused(StreamEntry stream)
    {
        if (stream.IsClosed && !(stream.ApplicationStarted && !stream.ApplicationCompleted) && !stream.WaitingToRun && !stream.AbortCallbacksPending)
        {
            _streams.Recycle(stream);
        }
    }
}
