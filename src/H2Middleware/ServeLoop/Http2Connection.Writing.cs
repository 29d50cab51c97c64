using System.Buffers;
using System.IO.Pipelines;
using H2Middleware.Frames;
using H2Middleware.Streams;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace H2Middleware.ServeLoop;

/// <summary>
/// The write side: control frames first, then streams in the order the write scheduler picks, encoded straight
/// into the transport's PipeWriter. At most one flush is in flight; the loop flushes when nothing more is ready
/// (the seed's needsFrameFlush) or a batch is large, so many small frames leave in one write.
/// </summary>
internal sealed partial class Http2Connection
{
    private const int MaxBytesPerFlush = 128 * 1024;

    /// <summary>How many DATA bytes one stream may write per scheduling turn before the scheduler picks again.</summary>
    private const int StreamQuantum = 64 * 1024;
    private const int MaxQueuedControlFrames = 10_000;

    private readonly Queue<ControlFrame> _controlFrames = new();
    private readonly List<Http2Stream> _streamsWaitingForWindow = [];
    private readonly ArrayBufferWriter<byte> _headerBlockBuffer = new(4096);
    private readonly Action _onFlushCompleted;
    private ValueTask<FlushResult> _pendingFlush;
    private bool _flushInFlight;
    private long _bytesSinceFlush;
    private bool _closing;
    private bool _goAwaySent;
    private long _connectionSendWindow = Http2Limits.DefaultInitialWindowSize;
    private int _connectionReceiveWindow;
    private int _connectionWindowToReturn;
    private int _peerInitialWindowSize = Http2Limits.DefaultInitialWindowSize;
    private int _peerMaxFrameSize = Http2Limits.DefaultMaxFrameSize;

    private void QueueInitialSettings()
    {
        Span<Http2Setting> settings =
        [
            new(Http2SettingsParameter.MaxConcurrentStreams, (uint)Options.MaxStreamsPerConnection),
            new(Http2SettingsParameter.InitialWindowSize, (uint)Options.InitialStreamWindowSize),
            new(Http2SettingsParameter.MaxFrameSize, (uint)Options.MaxFrameSize),
            new(Http2SettingsParameter.HeaderTableSize, (uint)Options.HeaderTableSize),
            new(Http2SettingsParameter.MaxHeaderListSize, (uint)Options.MaxRequestHeaderFieldSize),
            new(Http2SettingsParameter.NoRfc7540Priorities, 1),
        ];
        Http2FrameWriter.WriteSettings(_output, settings);
        _bytesSinceFlush += Http2FrameHeader.Size + settings.Length * 6;
        _unacknowledgedSettings++;
        ArmSettingsAckTimer();

        int connectionWindowIncrease = Options.InitialConnectionWindowSize - Http2Limits.DefaultInitialWindowSize;
        if (connectionWindowIncrease > 0)
        {
            Http2FrameWriter.WriteWindowUpdate(_output, 0, connectionWindowIncrease);
            _bytesSinceFlush += Http2FrameHeader.Size + 4;
        }
    }

    private void QueueControlFrame(in ControlFrame frame)
    {
        // A client that makes us owe it frames (PING, SETTINGS, resets) faster than it reads them is flooding us (CVE-2019-9512/9515).
        if (_controlFrames.Count >= MaxQueuedControlFrames)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "too many control frames owed to a client that does not read");
        }

        _controlFrames.Enqueue(frame);
    }

    private void SendGoAway(Http2ErrorCode errorCode)
    {
        _goAwaySent = true;
        _controlFrames.Enqueue(new ControlFrame(ControlFrameKind.GoAway, _highestStreamId, (long)errorCode));
        Http2Log.GoAwaySent(Logger, ConnectionId, _highestStreamId, errorCode);
    }

    /// <summary>The loop's write pass: runs after every batch of messages.</summary>
    private void WriteFrames()
    {
        while (!_flushInFlight && !_stopped)
        {
            WriteControlFrames();
            while (_bytesSinceFlush < MaxBytesPerFlush && _scheduler.TryDequeue(out var scheduled))
            {
                WriteStreamFrame((Http2Stream)scheduled);
            }

            if (_bytesSinceFlush == 0)
            {
                if (_closing && _controlFrames.Count == 0)
                {
                    _stopped = true;
                }

                return;
            }

            StartFlush();
        }
    }

    private void WriteControlFrames()
    {
        while (_controlFrames.TryDequeue(out ControlFrame frame))
        {
            switch (frame.Kind)
            {
                case ControlFrameKind.SettingsAck:
                    Http2FrameWriter.WriteSettingsAck(_output);
                    CountWritten(Http2FrameType.Settings, 0, Http2FrameFlags.Ack, 0);
                    break;
                case ControlFrameKind.PingAck:
                    Http2FrameWriter.WritePing(_output, frame.PingData, ack: true);
                    CountWritten(Http2FrameType.Ping, 0, Http2FrameFlags.Ack, 8);
                    break;
                case ControlFrameKind.RstStream:
                    Http2FrameWriter.WriteRstStream(_output, frame.StreamId, frame.ErrorCode);
                    CountWritten(Http2FrameType.RstStream, frame.StreamId, Http2FrameFlags.None, 4);
                    break;
                case ControlFrameKind.WindowUpdate:
                    Http2FrameWriter.WriteWindowUpdate(_output, frame.StreamId, (int)frame.Value);
                    CountWritten(Http2FrameType.WindowUpdate, frame.StreamId, Http2FrameFlags.None, 4);
                    break;
                case ControlFrameKind.GoAway:
                    Http2FrameWriter.WriteGoAway(_output, frame.StreamId, frame.ErrorCode, default);
                    CountWritten(Http2FrameType.GoAway, 0, Http2FrameFlags.None, 8);
                    break;
            }
        }
    }

    private void CountWritten(Http2FrameType type, int streamId, Http2FrameFlags flags, int payloadLength)
    {
        _bytesSinceFlush += Http2FrameHeader.Size + payloadLength;
        if (Logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Trace))
        {
            Http2Log.FrameSent(Logger, ConnectionId, type, streamId, (byte)flags, payloadLength);
        }
    }

    private void StartFlush()
    {
        _bytesSinceFlush = 0;
        _flushInFlight = true;
        _pendingFlush = _output.FlushAsync();
        if (_pendingFlush.IsCompleted)
        {
            OnFlushCompleted();
        }
        else
        {
            _pendingFlush.GetAwaiter().UnsafeOnCompleted(_onFlushCompleted);
        }
    }

    private void OnFlushCompleted()
    {
        _flushInFlight = false;
        try
        {
            FlushResult result = _pendingFlush.GetAwaiter().GetResult();
            if (result.IsCompleted || result.IsCanceled)
            {
                Abort("the transport stopped accepting writes");
            }
        }
        catch (Exception exception)
        {
            Http2Log.TransportFailed(Logger, ConnectionId, "writing to the transport failed", exception);
            Abort("writing to the transport failed");
        }
    }

    // ---- Stream output ----

    private void OnStreamOutputReady(Http2Stream stream) => EvaluateOutput(stream);

    /// <summary>Queues the stream in the scheduler if it can send now; parks it if only a window is missing.</summary>
    private void EvaluateOutput(Http2Stream stream)
    {
        if (stream.IsScheduled || stream.LocalClosed || stream.WasReset)
        {
            return;
        }

        stream.AcknowledgeOutputNotification();
        switch (GetOutputState(stream))
        {
            case StreamOutputState.Ready:
                if (stream.IsWaitingForWindow)
                {
                    stream.IsWaitingForWindow = false;
                    _streamsWaitingForWindow.Remove(stream);
                }

                stream.IsScheduled = true;
                _scheduler.Enqueue(stream);
                break;
            case StreamOutputState.WaitingForWindow:
                if (!stream.IsWaitingForWindow)
                {
                    stream.IsWaitingForWindow = true;
                    _streamsWaitingForWindow.Add(stream);
                }

                break;
        }
    }

    private enum StreamOutputState : byte
    {
        Nothing,
        Ready,
        WaitingForWindow,
    }

    private StreamOutputState GetOutputState(Http2Stream stream)
    {
        if (!stream.HasResponseStarted)
        {
            return StreamOutputState.Nothing;
        }

        if (!stream.ResponseHeadersSent)
        {
            return StreamOutputState.Ready;
        }

        PipeReader body = stream.ResponseBodyReader;
        bool hasData = stream.HasDirectWrite;
        bool completed = false;
        if (body.TryRead(out ReadResult result))
        {
            hasData |= !result.Buffer.IsEmpty;
            completed = result.IsCompleted;
            body.AdvanceTo(result.Buffer.Start);
        }

        if (hasData)
        {
            return stream.SuppressResponseBody || (stream.SendWindow > 0 && _connectionSendWindow > 0)
                ? StreamOutputState.Ready
                : StreamOutputState.WaitingForWindow;
        }

        return completed ? StreamOutputState.Ready : StreamOutputState.Nothing;
    }

    private void UnscheduleStream(Http2Stream stream)
    {
        if (stream.IsScheduled)
        {
            stream.IsScheduled = false;
            _scheduler.Remove(stream);
        }

        if (stream.IsWaitingForWindow)
        {
            stream.IsWaitingForWindow = false;
            _streamsWaitingForWindow.Remove(stream);
        }
    }

    private void ResumeStreamsWaitingForWindow()
    {
        if (_connectionSendWindow <= 0)
        {
            return;
        }

        for (int i = _streamsWaitingForWindow.Count - 1; i >= 0; i--)
        {
            EvaluateOutput(_streamsWaitingForWindow[i]);
        }
    }

    private void ChangeInitialSendWindow(int newInitialWindow)
    {
        // RFC 9113 §6.9.2: the change applies to every open stream's window, which may go negative.
        long delta = (long)newInitialWindow - _peerInitialWindowSize;
        _peerInitialWindowSize = newInitialWindow;
        foreach (Http2Stream stream in _streams.Values)
        {
            if (stream.IsClosed)
            {
                continue;
            }

            stream.SendWindow += delta;
            if (stream.SendWindow > Http2Limits.MaxWindowSize)
            {
                throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window");
            }
        }

        if (delta > 0)
        {
            ResumeStreamsWaitingForWindow();
        }
    }

    /// <summary>
    /// Gives the stream its turn: its HEADERS if not yet sent, then body frames (or its end) as far as the turn allows.
    /// A small response thus leaves in one turn, HEADERS and DATA together.
    /// </summary>
    private void WriteStreamFrame(Http2Stream stream)
    {
        stream.IsScheduled = false;
        if (stream.LocalClosed || stream.WasReset)
        {
            return;
        }

        if (!stream.ResponseHeadersSent)
        {
            WriteResponseHeaders(stream);
        }

        if (stream.ResponseHeadersSent && !stream.LocalClosed && !stream.WasReset)
        {
            WriteResponseBody(stream);
        }

        EvaluateOutput(stream);
    }

    private void WriteResponseHeaders(Http2Stream stream)
    {
        PipeReader body = stream.ResponseBodyReader;
        bool endStream = false;
        if (body.TryRead(out ReadResult result))
        {
            endStream = result.IsCompleted && (result.Buffer.IsEmpty || stream.SuppressResponseBody) && !HasTrailers(stream);
            body.AdvanceTo(endStream ? result.Buffer.End : result.Buffer.Start);
        }

        if (!TryEncodeFields(stream, stream.ResponseHeaders, stream.StatusCode))
        {
            return;
        }

        Http2FrameWriter.WriteHeaders(_output, stream.StreamId, _headerBlockBuffer.WrittenSpan, endStream, _peerMaxFrameSize);
        CountWritten(Http2FrameType.Headers, stream.StreamId, endStream ? Http2FrameFlags.EndStream : Http2FrameFlags.None, _headerBlockBuffer.WrittenCount);
        stream.ResponseHeadersSent = true;
        if (endStream)
        {
            OnEndStreamSent(stream);
        }
    }

    private void WriteResponseBody(Http2Stream stream)
    {
        PipeReader body = stream.ResponseBodyReader;
        if (!body.TryRead(out ReadResult result))
        {
            // The pipe is empty: a pending direct write is the next body data.
            if (stream.HasDirectWrite)
            {
                WriteDirectDataFrames(stream);
            }

            return;
        }

        ReadOnlySequence<byte> data = result.Buffer;
        if (stream.SuppressResponseBody && !data.IsEmpty)
        {
            body.AdvanceTo(data.End);
            data = default;
            if (!result.IsCompleted)
            {
                return;
            }
        }
        else if (!data.IsEmpty)
        {
            WriteDataFrames(stream, body, data, result.IsCompleted);
            return;
        }
        else
        {
            body.AdvanceTo(data.End);
        }

        if (!result.IsCompleted)
        {
            if (stream.HasDirectWrite)
            {
                WriteDirectDataFrames(stream);
            }

            return;
        }

        if (HasTrailers(stream))
        {
            WriteResponseTrailers(stream);
        }
        else
        {
            Http2FrameWriter.WriteData(_output, stream.StreamId, ReadOnlySpan<byte>.Empty, endStream: true);
            CountWritten(Http2FrameType.Data, stream.StreamId, Http2FrameFlags.EndStream, 0);
            OnEndStreamSent(stream);
        }
    }

    /// <summary>
    /// Writes DATA frames for one scheduling turn: up to <see cref="StreamQuantum"/> bytes, each frame cut to the max frame
    /// size and both windows. A turn of several frames costs one pipe read and one scheduler round trip instead of one per frame.
    /// </summary>
    private void WriteDataFrames(Http2Stream stream, PipeReader body, ReadOnlySequence<byte> data, bool bodyCompleted)
    {
        long written = WriteDataFramesForTurn(stream, data, bodyCompleted, out bool endOfData);
        body.AdvanceTo(data.GetPosition(written));
        if (!endOfData)
        {
            return;
        }

        if (HasTrailers(stream))
        {
            WriteResponseTrailers(stream);
        }
        else
        {
            OnEndStreamSent(stream);
        }
    }

    /// <summary>Sends DATA straight from the handler's buffer; the handler's write completes when all of it is out.</summary>
    private void WriteDirectDataFrames(Http2Stream stream)
    {
        long written = WriteDataFramesForTurn(stream, new ReadOnlySequence<byte>(stream.DirectWrite), bodyCompleted: false, out _);
        stream.ConsumeDirectWrite((int)written);
    }

    /// <summary>The frames of one turn; END_STREAM goes on the last one when the body is complete and no trailers follow.</summary>
    private long WriteDataFramesForTurn(Http2Stream stream, ReadOnlySequence<byte> data, bool bodyCompleted, out bool endOfData)
    {
        long budget = StreamQuantum;
        long written = 0;
        endOfData = false;
        while (!data.IsEmpty && budget > 0)
        {
            long length = Math.Min(Math.Min(Math.Min(data.Length, _peerMaxFrameSize), Math.Min(stream.SendWindow, _connectionSendWindow)), budget);
            if (length <= 0)
            {
                break;
            }

            endOfData = bodyCompleted && length == data.Length;
            bool endStream = endOfData && !HasTrailers(stream);
            Http2FrameWriter.WriteData(_output, stream.StreamId, data.Slice(0, length), endStream);
            CountWritten(Http2FrameType.Data, stream.StreamId, endStream ? Http2FrameFlags.EndStream : Http2FrameFlags.None, (int)length);
            stream.SendWindow -= length;
            _connectionSendWindow -= length;
            budget -= length;
            written += length;
            data = data.Slice(length);
        }

        return written;
    }

    private void WriteResponseTrailers(Http2Stream stream)
    {
        if (!TryEncodeFields(stream, stream.ResponseTrailers!, statusCode: 0))
        {
            return;
        }

        Http2FrameWriter.WriteHeaders(_output, stream.StreamId, _headerBlockBuffer.WrittenSpan, endStream: true, _peerMaxFrameSize);
        CountWritten(Http2FrameType.Headers, stream.StreamId, Http2FrameFlags.EndStream, _headerBlockBuffer.WrittenCount);
        OnEndStreamSent(stream);
    }

    private static bool HasTrailers(Http2Stream stream) => stream.ResponseTrailers is { Count: > 0 };

    /// <summary>
    /// HPACK-encodes a header or trailer block into the scratch buffer. Every field is validated first: once the
    /// encoder has touched its dynamic table the block must be sent, or the peer's decoder falls out of step.
    /// </summary>
    private bool TryEncodeFields(Http2Stream stream, HeaderDictionary fields, int statusCode)
    {
        bool hasDate = false;
        foreach (KeyValuePair<string, StringValues> field in fields)
        {
            if (!HeaderFieldRules.IsValidResponseName(field.Key))
            {
                return FailResponse(stream, $"invalid response field name '{field.Key}'");
            }

            hasDate |= field.Key.Length == 4 && field.Key.Equals(HeaderNames.Date, StringComparison.OrdinalIgnoreCase);

            foreach (string? value in field.Value)
            {
                if (value is not null && !HeaderFieldRules.IsValidValue(value.AsSpan()))
                {
                    return FailResponse(stream, $"invalid value for response field '{field.Key}'");
                }
            }
        }

        _headerBlockBuffer.ResetWrittenCount();
        _hpackEncoder.BeginHeaderBlock(_headerBlockBuffer);
        if (statusCode != 0)
        {
            _hpackEncoder.EncodeStatus(statusCode, _headerBlockBuffer);
            if (!hasDate)
            {
                _hpackEncoder.EncodeHeader("date", HttpDate.Current(_time), _headerBlockBuffer);
            }
        }

        foreach (KeyValuePair<string, StringValues> field in fields)
        {
            if (HeaderFieldRules.IsConnectionSpecific(field.Key))
            {
                continue;
            }

            foreach (string? value in field.Value)
            {
                if (value is not null)
                {
                    _hpackEncoder.EncodeHeader(field.Key, value, _headerBlockBuffer);
                }
            }
        }

        return true;
    }

    private bool FailResponse(Http2Stream stream, string reason)
    {
        Http2Log.ResponseInvalid(Logger, ConnectionId, stream.StreamId, reason);
        ResetStream(stream, Http2ErrorCode.InternalError, reason);
        return false;
    }

    private void OnEndStreamSent(Http2Stream stream)
    {
        stream.LocalClosed = true;
        stream.ResponseBodyReader.Complete();
        if (stream.RemoteClosed)
        {
            OnStreamClosed(stream, Http2ErrorCode.NoError);
        }
        else if (stream.ApplicationCompleted)
        {
            ResetStream(stream, Http2ErrorCode.NoError, "response complete before the request");
        }
    }

    // ---- Flow control: giving window back ----

    private void ReturnConnectionWindow(int bytes)
    {
        _connectionWindowToReturn += bytes;
        if (_connectionWindowToReturn >= Options.InitialConnectionWindowSize / 2)
        {
            _connectionReceiveWindow += _connectionWindowToReturn;
            QueueWindowUpdate(0, _connectionWindowToReturn);
            _connectionWindowToReturn = 0;
        }
    }

    private void ReturnWindow(Http2Stream stream, int bytes)
    {
        ReturnConnectionWindow(bytes);
        if (!stream.RemoteClosed)
        {
            stream.PendingWindowUpdate += bytes;
        }
    }

    private void SendWindowUpdatesIfDue(Http2Stream stream)
    {
        if (stream.RemoteClosed || stream.PendingWindowUpdate < Options.InitialStreamWindowSize / 2)
        {
            return;
        }

        stream.ReceiveWindow += stream.PendingWindowUpdate;
        QueueWindowUpdate(stream.StreamId, stream.PendingWindowUpdate);
        stream.PendingWindowUpdate = 0;
    }

    private void QueueWindowUpdate(int streamId, int increment) =>
        QueueControlFrame(new ControlFrame(ControlFrameKind.WindowUpdate, streamId, increment));
}
