using System.Buffers;
using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.Hpack;
using H2Middleware.Scheduling;
using H2Middleware.Streams;

namespace H2Middleware.ServeLoop;

/// <summary>processFrame: what each received frame does to the connection (RFC 9113 §5, §6).</summary>
internal sealed partial class Http2Connection
{
    // A run of empty DATA frames costs us work but carries nothing (CVE-2019-9518).
    private const int MaxConsecutiveEmptyDataFrames = 100;

    private bool _sawFirstSettings;
    private int _highestStreamId;
    private int _emptyFrameCount;
    private int _refusedBeforeSettingsAck;
    private readonly Dictionary<int, Http2Priority> _earlyPriorities = [];

    private void ProcessFrame(in Http2Frame frame)
    {
        if (!_sawFirstSettings)
        {
            if (frame.Type != Http2FrameType.Settings || frame.IsAck)
            {
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "the first frame from the client must be SETTINGS");
            }

            _sawFirstSettings = true;
            CancelPrefaceTimer();
        }

        if (_headerBlock.StreamId != 0 && (frame.Type != Http2FrameType.Continuation || frame.StreamId != _headerBlock.StreamId))
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
                OnGoAway(frame);
                break;
            case Http2FrameType.WindowUpdate:
                OnWindowUpdate(frame);
                break;
            case Http2FrameType.PriorityUpdate:
                OnPriorityUpdate(frame);
                break;
            case Http2FrameType.PushPromise:
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "a client cannot push (PUSH_PROMISE)");
            case Http2FrameType.Priority:
                // RFC 9113 §5.3.2: the RFC 7540 priority scheme is deprecated; we use RFC 9218 signals instead.
                break;
            default:
                // RFC 9113 §4.1: unknown frame types are ignored.
                break;
        }
    }

    /// <summary>A frame the reader found broken in a way that only harms its stream.</summary>
    private void OnFrameStreamError(in Http2Frame frame, in Http2FrameError error)
    {
        if (_headerBlock.StreamId != 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "expected CONTINUATION of the open header block");
        }

        if (IsIdle(error.StreamId) && frame.Type != Http2FrameType.Headers)
        {
            // RFC 9113 §6.4: no RST_STREAM for an idle stream. A broken PRIORITY changes nothing (we ignore PRIORITY);
            // any other frame on an idle stream is a connection error (§5.1).
            if (frame.Type == Http2FrameType.Priority)
            {
                ChargeClientError(ConnectionEndReason.UnexpectedFrame);
                return;
            }

            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, error.Reason);
        }

        ChargeClientError(ConnectionEndReason.UnexpectedFrame);
        if (_streams.TryGetValue(error.StreamId, out StreamEntry? stream) && !stream.IsClosed)
        {
            ResetStream(stream, error.Code, error.Reason);
        }
        else
        {
            QueueRstStream(error.StreamId, error.Code, error.Reason);
        }
    }

    /// <summary>
    /// Idle (RFC 9113 §5.1): a client stream id above every one used so far, or any even id (we open no streams).
    /// Only HEADERS and PRIORITY may arrive on an idle stream.
    /// </summary>
    private bool IsIdle(int streamId) => streamId > _highestStreamId || (streamId & 1) == 0;

    private void OnData(in Http2Frame frame)
    {
        int streamId = frame.StreamId;
        if (IsIdle(streamId))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "DATA on an idle stream");
        }

        int flowControlled = frame.FlowControlledLength;
        if (!_connectionReceiveWindow.TryReceive(flowControlled))
        {
            throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "DATA beyond the connection window");
        }

        CountEmptyFrame(flowControlled == 0 && !frame.EndStream);

        if (!_streams.TryGetValue(streamId, out StreamEntry? stream) || stream.IsClosed || stream.RemoteClosed)
        {
            ReturnConnectionWindow(flowControlled);
            OnDataOnClosedStream(stream, streamId);
            return;
        }

        if (!stream.ReceiveWindow.TryReceive(flowControlled))
        {
            ReturnConnectionWindow(flowControlled);
            RejectStream(stream, Http2ErrorCode.FlowControlError, ConnectionEndReason.FlowControlWindowExceeded, "DATA beyond the stream window");
            return;
        }

        ReceiveRequestBody(stream, frame.Payload, flowControlled);
        if (frame.EndStream && !stream.IsClosed)
        {
            OnRequestBodyEnd(stream);
        }

        SendWindowUpdatesIfDue(stream);
    }

    /// <summary>
    /// DATA on a stream that is not open (RFC 9113 §6.1): a STREAM_CLOSED stream error, except for DATA the client sent
    /// before it saw our RST_STREAM, which is ignored (§5.1).
    /// </summary>
    private void OnDataOnClosedStream(StreamEntry? stream, int streamId)
    {
        if (stream is { IsClosed: false })
        {
            RejectStream(stream, Http2ErrorCode.StreamClosed, ConnectionEndReason.ReceivedFrameAfterStreamClose, "DATA after END_STREAM");
            return;
        }

        if (CloseCauseOf(streamId) == StreamCloseCause.ResetByServer || streamId > _goAwayLastStreamId)
        {
            return;
        }

        ChargeClientError(ConnectionEndReason.ReceivedFrameAfterStreamClose);
        QueueRstStream(streamId, Http2ErrorCode.StreamClosed, "DATA on a closed stream");
    }

    private void OnRstStream(in Http2Frame frame)
    {
        int streamId = frame.StreamId;
        if (IsIdle(streamId))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "RST_STREAM on an idle stream");
        }

        if (_streams.TryGetValue(streamId, out StreamEntry? stream) && stream.Lifecycle.Apply(StreamEvent.ResetByClient))
        {
            Http2Log.StreamResetReceived(Logger, ConnectionId, streamId, frame.ErrorCode);
            OnStreamClosed(stream, frame.ErrorCode);
        }
    }

    private void OnSettings(in Http2Frame frame)
    {
        if (frame.IsAck)
        {
            OnSettingsAcknowledged();
            return;
        }

        TakeControlFrameToken();

        foreach (Http2Setting setting in frame.Settings)
        {
            switch (setting.Parameter)
            {
                case Http2SettingsParameter.HeaderTableSize:
                    _responseFields.SetPeerHeaderTableSize(setting.Value);
                    break;
                case Http2SettingsParameter.InitialWindowSize:
                    ChangeInitialSendWindow((int)setting.Value);
                    break;
                case Http2SettingsParameter.MaxFrameSize:
                    _streamTurn.PeerMaxFrameSize = (int)setting.Value;
                    break;
                case Http2SettingsParameter.MaxHeaderListSize:
                    _responseFields.PeerMaxHeaderListSize = setting.Value;
                    break;
            }
        }

        QueueControlFrame(new ControlFrame(ControlFrameKind.SettingsAck));
    }

    private void OnPing(in Http2Frame frame)
    {
        if (!frame.IsAck)
        {
            TakeControlFrameToken();
            QueueControlFrame(new ControlFrame(ControlFrameKind.PingAck, PingData: frame.PingData));
        }
        else if (frame.PingData == ShutdownPingData)
        {
            SendFinalGoAway();
        }
        else if (frame.PingData == KeepAlivePingData)
        {
            OnKeepAlivePingAcknowledged();
        }
    }

    private void OnGoAway(in Http2Frame frame)
    {
        Http2Log.GoAwayReceived(Logger, ConnectionId, frame.LastStreamId, frame.ErrorCode);
        StartGracefulShutdown();
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

            _sendQueue.ResumeWaitingStreams();
            return;
        }

        if (IsIdle(frame.StreamId))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "WINDOW_UPDATE on an idle stream");
        }

        if (!_streams.TryGetValue(frame.StreamId, out StreamEntry? stream) || stream.IsClosed)
        {
            return;
        }

        if (!stream.SendWindow.TryIncrease(increment))
        {
            RejectStream(stream, Http2ErrorCode.FlowControlError, ConnectionEndReason.WindowUpdateSizeInvalid, "stream window above 2^31-1");
            return;
        }

        _sendQueue.Evaluate(stream);
    }

    private void OnPriorityUpdate(in Http2Frame frame)
    {
        int streamId = frame.PrioritizedStreamId;
        if (frame.Payload.Length > Http2Priority.MaxFieldValueLength)
        {
            return;
        }

        Span<byte> value = stackalloc byte[(int)frame.Payload.Length];
        frame.Payload.CopyTo(value);
        if (_streams.TryGetValue(streamId, out StreamEntry? stream))
        {
            if (!stream.IsClosed)
            {
                stream.ClientPriority = Http2Priority.Parse(value, stream.ClientPriority);
                _sendQueue.Scheduler.OnPriorityChanged(stream);
            }
        }
        else if (streamId > _highestStreamId && _earlyPriorities.Count < Options.MaxStreamsPerConnection)
        {
            // RFC 9218 §7.1: a PRIORITY_UPDATE may arrive before its stream opens.
            _earlyPriorities[streamId] = Http2Priority.Parse(value, Http2Priority.Default);
        }
    }

    private void TakeControlFrameToken()
    {
        if (!_controlFrameRate.TryTake())
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, nameof(ConnectionEndReason.ControlFrameFlood));
        }
    }

    private void CountEmptyFrame(bool empty)
    {
        if (!empty)
        {
            _emptyFrameCount = 0;
            return;
        }

        if (++_emptyFrameCount > MaxConsecutiveEmptyDataFrames)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "too many empty DATA frames");
        }
    }
}
