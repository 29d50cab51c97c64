using System.Buffers;
using System.IO.Pipelines;
using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.Telemetry;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.ServeLoop;

/// <summary>
/// Frames in: the read pump's completions, then what each frame does to the connection and its streams (RFC 9113 §5,
/// §6), header blocks included; what then happens to a stream is the <see cref="StreamCoordinator"/>'s part.
/// </summary>
internal sealed partial class Http2Connection
{
    private void StartRead()
    {
        if (!_stopReading && !_stopped && !_reads.TryStart(out Exception? error))
        {
            Http2Log.TransportFailed(Logger, ConnectionId, "reading from the transport failed", error);
            _metrics.ConnectionLost(ConnectionEndTags.TransportFailed);
            Abort("reading from the transport failed");
        }
    }

    private void OnReadCompleted()
    {
        if (!_reads.TryTakeResult(out ReadResult result, out Exception? error))
        {
            Http2Log.TransportFailed(Logger, ConnectionId, "reading from the transport failed", error);
            _metrics.ConnectionLost(ConnectionEndTags.TransportFailed);
            Abort("reading from the transport failed");
            return;
        }

        _keepAlivePing.NoteRead();
        ReadOnlySequence<byte> buffer = result.Buffer;
        try
        {
            if (_reads.PrefaceReceived || _reads.TryReadPreface(ref buffer))
            {
                ProcessFrames(ref buffer);
                ResumeStreamsIfConnectionWindowGrew();
            }
        }
        catch (Http2ConnectionException failure)
        {
            FailConnection(failure.ErrorCode, failure.Message);
        }

        _reads.AdvanceTo(buffer.Start, result.Buffer.End);
        if (result.IsCompleted || result.IsCanceled)
        {
            OnClientStoppedSending();
            return;
        }

        StartRead();
    }

    private void ProcessFrames(ref ReadOnlySequence<byte> buffer)
    {
        while (!_stopReading && !_stopped)
        {
            Http2FrameReadStatus status = Http2FrameReader.TryReadFrame(ref buffer, Options.MaxFrameSize, out Http2Frame frame, out Http2FrameError error);
            switch (status)
            {
                case Http2FrameReadStatus.NeedMoreData:
                    return;
                case Http2FrameReadStatus.ConnectionError:
                    throw new Http2ConnectionException(error.Code, error.Reason);
                case Http2FrameReadStatus.StreamError:
                    LogFrameReceived(frame);
                    _metrics.FrameReceived(frame);
                    RequireFirstSettings(frame);
                    OnFrameStreamError(frame, error);
                    break;
                default:
                    LogFrameReceived(frame);
                    _metrics.FrameReceived(frame);
                    ProcessFrame(frame);
                    break;
            }
        }
    }

    /// <summary>The client closed its sending side: no more requests can arrive; finish what is in flight.</summary>
    private void OnClientStoppedSending()
    {
        _stopReading = true;
        if (!_closing)
        {
            _coordinator.AbortAll(Http2ErrorCode.Cancel);
            BeginClosing();
        }
    }

    /// <summary>RFC 9113 §3.4: the client's first frame is SETTINGS, whether or not any later frame is well formed.</summary>
    private void RequireFirstSettings(in Http2Frame frame)
    {
        if (_sawFirstSettings)
        {
            return;
        }

        if (frame.Type != Http2FrameType.Settings || frame.IsAck)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "the first frame from the client must be SETTINGS");
        }

        _sawFirstSettings = true;
        _timers.Cancel(ServeLoopTimer.Preface);
    }

    private void LogFrameReceived(in Http2Frame frame)
    {
        if (Logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Trace))
        {
            Http2Log.FrameReceived(Logger, ConnectionId, frame.Type, frame.StreamId, (byte)frame.Flags, frame.Header.PayloadLength);
        }
    }

    /// <summary>processFrame: what each received frame does.</summary>
    private void ProcessFrame(in Http2Frame frame)
    {
        RequireFirstSettings(frame);
        if (_headerBlocks.IsOpen && (frame.Type != Http2FrameType.Continuation || frame.StreamId != _headerBlocks.Open.StreamId))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "expected CONTINUATION of the open header block");
        }

        switch (frame.Type)
        {
            case Http2FrameType.Data:
                OnData(frame);
                break;
            case Http2FrameType.Headers:
                OnHeaders(frame);
                break;
            case Http2FrameType.Continuation:
                OnContinuation(frame);
                break;
            case Http2FrameType.RstStream:
                OnRstStream(frame);
                break;
            case Http2FrameType.Settings:
                OnSettings(frame);
                break;
            case Http2FrameType.Ping:
                OnPing(frame);
                break;
            case Http2FrameType.GoAway:
                Http2Log.GoAwayReceived(Logger, ConnectionId, frame.LastStreamId, frame.ErrorCode);
                StartGracefulShutdown();
                break;
            case Http2FrameType.WindowUpdate:
                OnWindowUpdate(frame);
                break;
            case Http2FrameType.PriorityUpdate:
                _prioritySignals.OnPriorityUpdate(frame, IsIdle(frame.PrioritizedStreamId));
                break;
            case Http2FrameType.PushPromise:
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "a client cannot push (PUSH_PROMISE)");
            case Http2FrameType.Priority:
                // RFC 9113 §5.3.2 deprecates the RFC 7540 scheme; only a tree scheduler reads it. A flood costs us
                // work either way, so it draws on the same budget as PING and SETTINGS.
                _controlFrameRate.Take();
                _prioritySignals.OnRfc7540Priority(frame);
                break;
            default:
                // RFC 9113 §4.1: unknown frame types are ignored.
                break;
        }
    }

    /// <summary>A frame the reader found broken in a way that only harms its stream.</summary>
    private void OnFrameStreamError(in Http2Frame frame, in Http2FrameError error)
    {
        if (_headerBlocks.IsOpen)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "expected CONTINUATION of the open header block");
        }

        if (IsIdle(error.StreamId) && frame.Type != Http2FrameType.Headers)
        {
            // RFC 9113 §6.4: no RST_STREAM for an idle stream. A broken PRIORITY is dropped, as §5.3.2 allows;
            // any other frame on an idle stream is a connection error (§5.1).
            if (frame.Type == Http2FrameType.Priority)
            {
                _coordinator.ChargeClientError(ConnectionEndReason.UnexpectedFrame);
                return;
            }

            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, error.Reason);
        }

        _coordinator.ChargeClientError(ConnectionEndReason.UnexpectedFrame);
        if (_streams.FindOpen(error.StreamId) is { } stream)
        {
            _coordinator.Reset(stream, error.Code, error.Reason);
        }
        else if (_streams.CloseCauseOf(error.StreamId) != StreamCloseCause.ResetByServer)
        {
            // RFC 9113 §5.1: frames on a stream we reset are ignored, malformed ones too.
            _coordinator.QueueRstStream(error.StreamId, error.Code, error.Reason);
        }
    }

    /// <summary>
    /// Idle (RFC 9113 §5.1): a client stream id above every one used so far, or an even id above every one we promised
    /// (even ids are ours, for pushes). Only HEADERS and PRIORITY may arrive on an idle stream.
    /// </summary>
    private bool IsIdle(int streamId) => (streamId & 1) == 0 ? streamId == 0 || streamId > _push.HighestPromisedId : streamId > _highestStreamId;

    private void OnData(in Http2Frame frame)
    {
        int streamId = frame.StreamId;
        if (IsIdle(streamId))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "DATA on an idle stream");
        }

        int flowControlled = frame.FlowControlledLength;
        if (!_requestBodies.ConnectionWindow.TryReceive(flowControlled))
        {
            throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "DATA beyond the connection window");
        }

        _requestBodies.CountFrame(empty: frame.Payload.IsEmpty && !frame.EndStream);
        StreamEntry? stream = _streams.FindOpen(streamId);
        if (stream is null || stream.RemoteClosed)
        {
            _requestBodies.ReturnConnectionWindow(flowControlled);
            OnDataOnClosedStream(stream, streamId);
            return;
        }

        if (!stream.ReceiveWindow.TryReceive(flowControlled))
        {
            _requestBodies.ReturnConnectionWindow(flowControlled);
            _coordinator.Reject(stream, Http2ErrorCode.FlowControlError, ConnectionEndReason.FlowControlWindowExceeded, "DATA beyond the stream window");
            return;
        }

        if (!_requestBodies.Deliver(stream, frame.Payload, flowControlled))
        {
            _coordinator.Reject(stream, Http2ErrorCode.ProtocolError, ConnectionEndReason.InvalidContentLength, "more request body than content-length");
        }
        else if (frame.EndStream && !stream.IsClosed)
        {
            _coordinator.OnRequestBodyEnd(stream);
        }

        _requestBodies.SendUpdateIfDue(stream);
    }

    /// <summary>
    /// DATA on a stream that is not open (RFC 9113 §6.1): a STREAM_CLOSED stream error, except for DATA the client sent
    /// before it saw our RST_STREAM, which is ignored, and DATA on a stream we promised but have not started, which is
    /// a connection error (§5.1).
    /// </summary>
    private void OnDataOnClosedStream(StreamEntry? halfClosed, int streamId)
    {
        if (halfClosed?.Lifecycle.State == StreamState.ReservedLocal)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "DATA on a reserved stream");
        }

        if (halfClosed is not null)
        {
            _coordinator.Reject(halfClosed, Http2ErrorCode.StreamClosed, ConnectionEndReason.ReceivedFrameAfterStreamClose, "DATA after END_STREAM");
            return;
        }

        if (_streams.CloseCauseOf(streamId) == StreamCloseCause.ResetByServer || streamId > _goAwayLastStreamId)
        {
            return;
        }

        _coordinator.ChargeClientError(ConnectionEndReason.ReceivedFrameAfterStreamClose);
        _coordinator.QueueRstStream(streamId, Http2ErrorCode.StreamClosed, "DATA on a closed stream");
    }

    private void OnRstStream(in Http2Frame frame)
    {
        int streamId = frame.StreamId;
        if (IsIdle(streamId))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "RST_STREAM on an idle stream");
        }

        if (_streams.TryGet(streamId, out StreamEntry? stream))
        {
            _coordinator.OnResetByClient(stream, frame.ErrorCode);
        }
    }

    private void OnSettings(in Http2Frame frame)
    {
        if (frame.IsAck)
        {
            OnSettingsAcknowledged();
            return;
        }

        _controlFrameRate.Take();
        int? largestInitialWindow = null;
        int? lastInitialWindow = null;
        foreach (Http2Setting setting in frame.Settings)
        {
            switch (setting.Parameter)
            {
                case Http2SettingsParameter.HeaderTableSize:
                    _responseFields.SetPeerHeaderTableSize(setting.Value);
                    break;
                case Http2SettingsParameter.InitialWindowSize:
                    lastInitialWindow = (int)setting.Value;
                    largestInitialWindow = Math.Max(largestInitialWindow ?? 0, (int)setting.Value);
                    break;
                case Http2SettingsParameter.MaxFrameSize:
                    _streamTurn.PeerMaxFrameSize = (int)setting.Value;
                    break;
                case Http2SettingsParameter.MaxHeaderListSize:
                    _responseFields.PeerMaxHeaderListSize = setting.Value;
                    break;
                case Http2SettingsParameter.EnablePush:
                    _push.OnClientEnablePush(setting.Value);
                    break;
                case Http2SettingsParameter.MaxConcurrentStreams:
                    _push.OnClientMaxConcurrentStreams(setting.Value);
                    break;
            }
        }

        if (lastInitialWindow is { } last)
        {
            // Once per frame, not per entry: a frame can repeat the setting thousands of times, and each change walks
            // every stream. A value that would overflow a window on the way is still an error (RFC 9113 §6.9.2), so the
            // largest goes first.
            if (largestInitialWindow != last)
            {
                ChangeInitialSendWindow(largestInitialWindow!.Value);
            }

            ChangeInitialSendWindow(last);
        }

        _controlFrames.Enqueue(new ControlFrame(ControlFrameKind.SettingsAck));
    }

    private void ChangeInitialSendWindow(int newInitialWindow)
    {
        long delta = (long)newInitialWindow - _peerInitialWindowSize;
        _peerInitialWindowSize = newInitialWindow;
        if (!_streams.TryChangeSendWindows(delta))
        {
            throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window");
        }

        if (delta > 0)
        {
            _sendQueue.ResumeWaitingStreams();
        }
    }

    private void OnPing(in Http2Frame frame)
    {
        if (!frame.IsAck)
        {
            _controlFrameRate.Take();
            _controlFrames.Enqueue(new ControlFrame(ControlFrameKind.PingAck, PingData: frame.PingData));
        }
        else if (frame.PingData == ShutdownPingData)
        {
            SendFinalGoAway();
        }
        else if (frame.PingData == KeepAlivePing.Data)
        {
            if (_keepAlivePing.OnAcknowledged())
            {
                _timers.Arm(ServeLoopTimer.KeepAlivePing, _keepAlivePing.Delay);
            }
        }
        else
        {
            _requestBodies.OnPingAcknowledged(frame.PingData, _streams.Entries);
        }
    }

    private void OnWindowUpdate(in Http2Frame frame)
    {
        int increment = frame.WindowSizeIncrement;
        if (frame.StreamId == 0)
        {
            if (!_sendQueue.ConnectionWindow.TryIncrease(increment))
            {
                throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "connection window above 2^31-1");
            }

            _connectionWindowGrew = true;
            return;
        }

        if (IsIdle(frame.StreamId))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "WINDOW_UPDATE on an idle stream");
        }

        if (_streams.FindOpen(frame.StreamId) is not { } stream)
        {
            return;
        }

        if (!stream.SendWindow.TryIncrease(increment))
        {
            _coordinator.Reject(stream, Http2ErrorCode.FlowControlError, ConnectionEndReason.WindowUpdateSizeInvalid, "stream window above 2^31-1");
            return;
        }

        _sendQueue.Evaluate(stream);
    }

    /// <summary>
    /// Once per read, not per frame: a flood of connection WINDOW_UPDATEs would otherwise look at every waiting stream
    /// for each 13-byte frame.
    /// </summary>
    private void ResumeStreamsIfConnectionWindowGrew()
    {
        if (_connectionWindowGrew)
        {
            _connectionWindowGrew = false;
            _sendQueue.ResumeStreamsWaitingForConnectionWindow();
        }
    }

    private void OnHeaders(in Http2Frame frame)
    {
        if ((frame.StreamId & 1) == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "a client stream id must be odd");
        }

        _headerBlocks.Begin(ClassifyHeaderBlock(frame));
        if (!frame.EndHeaders)
        {
            _headerBlockStartedAt = _time.GetTimestamp();
            _timers.Arm(ServeLoopTimer.RequestHeaders, Options.RequestHeadersTimeout);
        }

        DecodeHeaderBlockFragment(frame.Payload, frame.EndHeaders);
    }

    /// <summary>What the block that this HEADERS frame starts is for (RFC 9113 §5.1, §6.8, §8.1); opens its stream if new.</summary>
    private HeaderBlock ClassifyHeaderBlock(in Http2Frame frame)
    {
        int streamId = frame.StreamId;
        var block = new HeaderBlock(streamId, HeaderBlockPurpose.Request, frame.EndStream);
        if (_streams.FindOpen(streamId) is { } stream)
        {
            // A second HEADERS on an open stream carries trailers (RFC 9113 §8.1).
            if (stream.RemoteClosed)
            {
                return block.Rejecting(Http2ErrorCode.StreamClosed, ConnectionEndReason.ReceivedFrameAfterStreamClose, "HEADERS on a half-closed (remote) stream");
            }

            if (stream.Stream.IsConnectRequest)
            {
                // RFC 9113 §8.5: a CONNECT stream carries DATA, not trailers.
                return block.Rejecting(Http2ErrorCode.ProtocolError, ConnectionEndReason.UnexpectedFrame, "HEADERS on a CONNECT stream");
            }

            if (frame.HasPriority && frame.StreamDependency == streamId)
            {
                return block.Rejecting(Http2ErrorCode.ProtocolError, ConnectionEndReason.StreamSelfDependency, "a stream cannot depend on itself");
            }

            stream.Stream.BeginTrailers();
            return block.For(HeaderBlockPurpose.Trailers);
        }

        if (streamId <= _highestStreamId)
        {
            // RFC 9113 §5.1: frames the client sent before seeing our RST_STREAM are ignored; after its own RST_STREAM
            // they are a STREAM_CLOSED stream error, after both END_STREAMs a STREAM_CLOSED connection error; any other
            // lower id was never opened, which §5.1.1 makes a PROTOCOL_ERROR.
            return _streams.CloseCauseOf(streamId) switch
            {
                StreamCloseCause.ResetByServer => block.For(HeaderBlockPurpose.Ignore),
                StreamCloseCause.ResetByClient => block.Rejecting(Http2ErrorCode.StreamClosed, ConnectionEndReason.ReceivedFrameAfterStreamClose, "HEADERS on a stream the client reset"),
                StreamCloseCause.EndStream => throw new Http2ConnectionException(Http2ErrorCode.StreamClosed, "HEADERS on a closed stream"),
                _ => throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "stream id lower than one already used"),
            };
        }

        _highestStreamId = streamId;
        _prioritySignals.OnStreamIdUsed(streamId);
        if (streamId > _goAwayLastStreamId)
        {
            // RFC 9113 §6.8: streams above the last-stream-id of our GOAWAY are ignored.
            _prioritySignals.OnStreamNotOpened(streamId);
            return block.For(HeaderBlockPurpose.Ignore);
        }

        if (_streams.ClientOpenCount >= Options.MaxStreamsPerConnection)
        {
            // Before our SETTINGS are acknowledged the client may not know the limit yet (RFC 9113 §6.5.3), but no first
            // flight of requests holds more than another limit's worth.
            if (_unacknowledgedSettings == 0 || ++_refusedBeforeSettingsAck > Options.MaxStreamsPerConnection)
            {
                _coordinator.ChargeClientError(ConnectionEndReason.MaxConcurrentStreamsExceeded);
            }

            _prioritySignals.OnStreamNotOpened(streamId);
            return block.For(HeaderBlockPurpose.Refuse);
        }

        OpenStream(streamId);
        if (frame.HasPriority && frame.StreamDependency == streamId)
        {
            return block.Rejecting(Http2ErrorCode.ProtocolError, ConnectionEndReason.StreamSelfDependency, "a stream cannot depend on itself");
        }

        if (frame.HasPriority)
        {
            _prioritySignals.OnRfc7540Priority(frame);
        }

        return block;
    }

    private void OnContinuation(in Http2Frame frame)
    {
        if (!_headerBlocks.IsOpen)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "CONTINUATION without an open header block");
        }

        _headerBlocks.CountContinuation();
        DecodeHeaderBlockFragment(frame.Payload, frame.EndHeaders);
    }

    private void DecodeHeaderBlockFragment(in ReadOnlySequence<byte> fragment, bool endHeaders)
    {
        StreamEntry? target = null;
        if (_headerBlocks.Open.Purpose is HeaderBlockPurpose.Request or HeaderBlockPurpose.Trailers)
        {
            target = _streams.FindOpen(_headerBlocks.Open.StreamId);
            if (target is null)
            {
                // We reset the stream while its CONTINUATION frames were arriving: the rest of the block is ignored (§5.1).
                _headerBlocks.Ignore();
            }
        }

        if (_headerBlocks.Decode(fragment, endHeaders, target?.Stream, out HeaderBlock block, out bool listTooLarge))
        {
            _headerBlockStartedAt = null;
            OnHeaderBlockComplete(block, target, listTooLarge);
        }
    }

    private void OnHeaderBlockComplete(in HeaderBlock block, StreamEntry? stream, bool listTooLarge)
    {
        switch (block.Purpose)
        {
            case HeaderBlockPurpose.Ignore:
                return;
            case HeaderBlockPurpose.Refuse:
                _coordinator.QueueRstStream(block.StreamId, Http2ErrorCode.RefusedStream, "too many concurrent streams");
                return;
            case HeaderBlockPurpose.Reject when _streams.FindOpen(block.StreamId) is { } rejected:
                _coordinator.Reject(rejected, block.RejectCode, block.RejectCause, block.RejectReason!);
                return;
            case HeaderBlockPurpose.Reject:
                _coordinator.ChargeClientError(block.RejectCause);
                _coordinator.QueueRstStream(block.StreamId, block.RejectCode, block.RejectReason!);
                return;
            case HeaderBlockPurpose.Trailers:
                OnRequestTrailersComplete(stream!, block.EndStream, listTooLarge);
                return;
            default:
                OnRequestHeadersComplete(stream!, block.EndStream, listTooLarge);
                return;
        }
    }

    private void OnRequestTrailersComplete(StreamEntry stream, bool endStream, bool listTooLarge)
    {
        string? error = listTooLarge ? "request trailers too large" : stream.Stream.CompleteRequestTrailers() ?? (endStream ? null : "trailers without END_STREAM");
        if (error is not null)
        {
            _coordinator.Reject(stream, Http2ErrorCode.ProtocolError, listTooLarge ? ConnectionEndReason.MaxRequestHeadersTotalSizeExceeded : ConnectionEndReason.InvalidRequestHeaders, error);
            return;
        }

        _coordinator.OnRequestBodyEnd(stream);
    }

    private void OnRequestHeadersComplete(StreamEntry stream, bool endStream, bool listTooLarge)
    {
        if (listTooLarge)
        {
            _coordinator.ChargeClientError(ConnectionEndReason.MaxRequestHeadersTotalSizeExceeded);
            _coordinator.RespondWithoutApplication(stream, StatusCodes.Status431RequestHeaderFieldsTooLarge, endStream);
            return;
        }

        if (stream.Stream.CompleteRequestHeaders() is { } requestError)
        {
            _coordinator.Reject(stream, Http2ErrorCode.ProtocolError, ConnectionEndReason.InvalidRequestHeaders, requestError);
            return;
        }

        _prioritySignals.OnRequestHeaders(stream);

        stream.Stream.SetRequestHasBody(!endStream);
        if (endStream)
        {
            if (stream.Stream.DeclaredContentLength is > 0)
            {
                _coordinator.Reject(stream, Http2ErrorCode.ProtocolError, ConnectionEndReason.InvalidContentLength, "content-length without a body");
                return;
            }

            _coordinator.OnRequestBodyEnd(stream);
        }

        _handlers.Start(stream);
    }

    private void OpenStream(int streamId)
    {
        _prioritySignals.OnStreamOpened(_streams.Open(streamId, _peerInitialWindowSize, Options.InitialStreamWindowSize));
        _streamsServed++;
        StartDataRateChecks();
    }
}
