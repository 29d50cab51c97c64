using System.Buffers;
using System.IO.Pipelines;
using H2Middleware.Protocol;
using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Streams;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.ServeLoop;

/// <summary>Stream lifecycle on the serve loop: open, receive body, start the handler, close, reset (RFC 9113 §5.1).</summary>
internal sealed partial class Http2Connection
{
    private readonly Queue<StreamEntry> _streamsWaitingToRun = new();
    private readonly Stack<StreamEntry> _streamPool = new();
    private readonly ClosedStreams _closedStreams;
    private readonly ClientErrorBudget _clientErrors;
    private readonly ControlFrameRateLimit _controlFrameRate;
    private int _openStreamCount;
    private int _runningApplications;

    private StreamEntry OpenStream(int streamId)
    {
        if (!_streamPool.TryPop(out StreamEntry? stream))
        {
            stream = new StreamEntry(Application.CreateStream(_port));
        }

        stream.Open(streamId, _peerInitialWindowSize, Options.InitialStreamWindowSize);
        _streams.Add(streamId, stream);
        _openStreamCount++;
        StartDataRateChecks();
        _streamsServed++;
        return stream;
    }

    /// <summary>
    /// Runs the handler on the thread pool. Handlers still running count against the stream limit even after
    /// their stream closed, so a client that opens and resets streams in a loop (CVE-2023-44487) cannot make us run
    /// more than a bounded number at once; the excess waits here, and a client that piles up more is cut off.
    /// </summary>
    private void StartApplication(StreamEntry stream)
    {
        if (_runningApplications < Options.MaxStreamsPerConnection)
        {
            RunApplication(stream);
            return;
        }

        if (_streamsWaitingToRun.Count >= Options.MaxStreamsPerConnection * 4)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "too many streams waiting for a handler");
        }

        stream.WaitingToRun = true;
        _streamsWaitingToRun.Enqueue(stream);
    }

    private void RunApplication(StreamEntry stream)
    {
        _runningApplications++;
        stream.ApplicationStarted = true;
        ThreadPool.UnsafeQueueUserWorkItem(stream.Stream, preferLocal: false);
    }

    private void RunWaitingApplications()
    {
        while (_runningApplications < Options.MaxStreamsPerConnection && _streamsWaitingToRun.TryDequeue(out StreamEntry? stream))
        {
            stream.WaitingToRun = false;
            if (stream.IsClosed)
            {
                ReleaseIfUnused(stream);
            }
            else
            {
                RunApplication(stream);
            }
        }
    }

    private void ReceiveRequestBody(StreamEntry stream, in ReadOnlySequence<byte> data, int flowControlled)
    {
        int padding = flowControlled - (int)data.Length;
        if (padding > 0)
        {
            // Padding is never read by the handler: its window comes back at once.
            ReturnWindow(stream, padding);
        }

        if (data.IsEmpty)
        {
            return;
        }

        if (stream.DiscardingRequestBody)
        {
            ReturnWindow(stream, (int)data.Length);
            return;
        }

        stream.RequestBodyReceived += data.Length;
        if (stream.Stream.DeclaredContentLength is { } declared && stream.RequestBodyReceived > declared)
        {
            RejectStream(stream, Http2ErrorCode.ProtocolError, ConnectionEndReason.InvalidContentLength, "more request body than content-length");
            return;
        }

        PipeWriter body = stream.Stream.RequestBodyWriter;
        foreach (ReadOnlyMemory<byte> segment in data)
        {
            body.Write(segment.Span);
        }

        stream.RequestBodyDelivered += data.Length;
        ValueTask<FlushResult> flush = body.FlushAsync();
        if (flush.IsCompletedSuccessfully && flush.Result.IsCompleted)
        {
            // The handler completed its body reader: nobody will consume what is buffered.
            StopReceivingBody(stream);
        }
    }

    private void OnRequestBodyEnd(StreamEntry stream)
    {
        if (stream.Stream.DeclaredContentLength is { } declared && stream.RequestBodyReceived != declared && !stream.DiscardingRequestBody)
        {
            RejectStream(stream, Http2ErrorCode.ProtocolError, ConnectionEndReason.InvalidContentLength, "request body shorter than content-length");
            return;
        }

        bool closed = stream.Lifecycle.Apply(StreamEvent.EndStreamReceived);
        stream.Stream.CompleteRequestBody();
        if (closed)
        {
            OnStreamClosed(stream, Http2ErrorCode.NoError);
        }
    }

    /// <summary>
    /// The handler has consumed or examined more of the body. Examined bytes get their window back too, as under Kestrel,
    /// or a reader that waits for a whole message before consuming it (gRPC) would stall once the window is spent; the
    /// window then no longer bounds what the stream buffers, so past <see cref="Http2ServeLoopOptions.MaxRequestBufferSizePerStream"/>
    /// unconsumed bytes only consumed ones are given back.
    /// </summary>
    private void OnStreamBodyConsumed(StreamEntry stream, long consumed, long examined)
    {
        if (consumed == RequestBodyReader.BodyReaderCompleted)
        {
            StopReceivingBody(stream);
            return;
        }

        if (stream.DiscardingRequestBody)
        {
            return;
        }

        stream.RequestBodyConsumed = Math.Max(stream.RequestBodyConsumed, consumed);
        stream.RequestBodyExamined = Math.Max(stream.RequestBodyExamined, Math.Max(consumed, examined));
        bool underBufferLimit = stream.RequestBodyDelivered - stream.RequestBodyConsumed <= Options.MaxRequestBufferSizePerStream;
        long released = Math.Min(underBufferLimit ? Math.Max(consumed, examined) : stream.RequestBodyConsumed, stream.RequestBodyDelivered);
        if (released <= stream.RequestBodyReleased)
        {
            return;
        }

        ReturnWindow(stream, (int)(released - stream.RequestBodyReleased));
        stream.RequestBodyReleased = released;
        SendWindowUpdatesIfDue(stream);
    }

    /// <summary>From now on the stream's DATA is counted and dropped; the connection window of what sits unread in its pipe is given back.</summary>
    private void StopReceivingBody(StreamEntry stream)
    {
        if (stream.DiscardingRequestBody)
        {
            return;
        }

        stream.DiscardingRequestBody = true;
        ReturnConnectionWindow((int)(stream.RequestBodyDelivered - stream.RequestBodyReleased));
        stream.RequestBodyReleased = stream.RequestBodyDelivered;
    }

    private void OnStreamApplicationCompleted(StreamEntry stream)
    {
        _runningApplications--;
        stream.ApplicationCompleted = true;
        StopReceivingBody(stream);
        if (stream.IsClosed)
        {
            ReleaseIfUnused(stream);
        }
        else if (stream.LocalClosed && !stream.RemoteClosed)
        {
            // RFC 9113 §8.1: the response is complete; ask the client to stop sending the request without error.
            ResetStream(stream, Http2ErrorCode.NoError, "response complete before the request");
        }

        RunWaitingApplications();
        CloseIfDrained();
    }

    private void OnStreamResetByApplication(StreamEntry stream, Http2ErrorCode errorCode)
    {
        if (!stream.IsClosed)
        {
            ResetStream(stream, errorCode, "reset by the application");
        }
    }

    private void OnStreamAbortDelivered(StreamEntry stream)
    {
        stream.AbortCallbacksPending = false;
        ReleaseIfUnused(stream);
    }

    private void OnStreamPriorityChanged(StreamEntry stream)
    {
        if (!stream.IsClosed)
        {
            _sendQueue.Scheduler.OnPriorityChanged(stream);
        }
    }

    /// <summary>Answers a request the handler never sees (431 for an oversized header list).</summary>
    private void RespondWithoutApplication(StreamEntry stream, int statusCode, bool requestEnded)
    {
        stream.Stream.SetRequestHasBody(!requestEnded);
        if (requestEnded)
        {
            stream.Lifecycle.Apply(StreamEvent.EndStreamReceived);
        }

        stream.ApplicationCompleted = true;
        StopReceivingBody(stream);
        stream.Stream.RespondWithStatus(statusCode);
        _sendQueue.Evaluate(stream);
    }

    /// <summary>Sends RST_STREAM and ends the stream on our side (RFC 9113 §5.4.2).</summary>
    private void ResetStream(StreamEntry stream, Http2ErrorCode errorCode, string reason)
    {
        if (!stream.Lifecycle.Apply(StreamEvent.ResetByServer))
        {
            return;
        }

        QueueRstStream(stream.StreamId, errorCode, reason);
        OnStreamClosed(stream, errorCode);
    }

    /// <summary>A stream error the client caused: the stream is reset and the client's error budget drawn.</summary>
    private void RejectStream(StreamEntry stream, Http2ErrorCode errorCode, ConnectionEndReason cause, string reason)
    {
        ChargeClientError(cause);
        ResetStream(stream, errorCode, reason);
    }

    /// <summary>Draws on the client's error budget; an exhausted budget is a connection error.</summary>
    private void ChargeClientError(ConnectionEndReason cause)
    {
        if (!_clientErrors.TryDraw())
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, cause.ToString());
        }
    }

    private void QueueRstStream(int streamId, Http2ErrorCode errorCode, string reason)
    {
        Http2Log.StreamResetSent(Logger, ConnectionId, streamId, errorCode, reason);
        _closedStreams.Remember(streamId, StreamCloseCause.ResetByServer);
        QueueControlFrame(new ControlFrame(ControlFrameKind.RstStream, streamId, (long)errorCode));
    }

    /// <summary>How a stream that is no longer open was closed, whether or not its object is still in the table.</summary>
    private StreamCloseCause CloseCauseOf(int streamId) => _closedStreams.CauseOf(streamId);

    /// <summary>
    /// The stream just reached "closed" (the transition that closed it says so, once): it no longer counts against the
    /// limit and its handler is told if it ended abnormally.
    /// </summary>
    private void OnStreamClosed(StreamEntry stream, Http2ErrorCode errorCode)
    {
        if (stream.Lifecycle.CloseCause == StreamCloseCause.ResetByClient)
        {
            _closedStreams.Remember(stream.StreamId, StreamCloseCause.ResetByClient);
        }
        else if (!stream.WasReset)
        {
            _closedStreams.Remember(stream.StreamId, StreamCloseCause.EndStream);
            if (stream.ApplicationStarted)
            {
                // Real progress: the application answered a request.
                _clientErrors.Refill();
            }
        }

        if (--_openStreamCount == 0)
        {
            NoteIdle();
        }

        _sendQueue.Remove(stream);
        if (stream.WasReset)
        {
            stream.Stream.Abort(errorCode);
            if (stream.ApplicationStarted && !stream.ApplicationCompleted)
            {
                stream.AbortCallbacksPending = true;
                stream.Stream.FireRequestAborted();
            }

            StopReceivingBody(stream);
        }

        ReleaseIfUnused(stream);
        CloseIfDrained();
    }

    /// <summary>
    /// Once the stream is closed and nothing of its handler side can touch it any more (its handler returned or never
    /// ran and no longer waits in the run queue, its RequestAborted callbacks have run), drops it from the table and
    /// pools it. Until then its entry stays in the table, closed, so that the handler's last messages find it.
    /// </summary>
    private void ReleaseIfUnused(StreamEntry stream)
    {
        if (!stream.IsClosed || (stream.ApplicationStarted && !stream.ApplicationCompleted) || stream.WaitingToRun || stream.AbortCallbacksPending)
        {
            return;
        }

        _streams.Remove(stream.StreamId);
        stream.Recycle();
        if (_streamPool.Count < Options.MaxStreamsPerConnection)
        {
            _streamPool.Push(stream);
        }
    }

    private void AbortAllStreams(Http2ErrorCode errorCode)
    {
        foreach (StreamEntry stream in _streams.Values)
        {
            if (stream.Lifecycle.Apply(StreamEvent.ResetByServer))
            {
                OnStreamClosed(stream, errorCode);
            }
        }

        _streamsWaitingToRun.Clear();
    }
}
