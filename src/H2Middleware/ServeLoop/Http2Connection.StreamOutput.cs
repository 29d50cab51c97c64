using System.Buffers;
using System.IO.Pipelines;
using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.Streams;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace H2Middleware.ServeLoop;

/// <summary>
/// Stream output: whether a stream can send, and its turn when the scheduler picks it: HEADERS (validated, then
/// HPACK-encoded), DATA from its pipe or straight from the handler's buffer, and its end (END_STREAM or trailers).
/// </summary>
internal sealed partial class Http2Connection
{
    /// <summary>How many DATA bytes one stream may write per scheduling turn before the scheduler picks again.</summary>
    private const int StreamQuantum = 64 * 1024;

    private readonly ArrayBufferWriter<byte> _headerBlockBuffer = new(4096);

    /// <summary>":status" with three digits (42 octets) and the "date" we add (65).</summary>
    private const int StatusAndDateListSize = 42 + 65;

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
        if (TryReadResponseBody(stream, out ReadResult result))
        {
            hasData |= !result.Buffer.IsEmpty;
            completed = result.IsCompleted;
            body.AdvanceTo(result.Buffer.Start);
        }
        else if (stream.WasReset)
        {
            return StreamOutputState.Nothing;
        }

        if (hasData)
        {
            return stream.SuppressResponseBody || (stream.SendWindow.Available > 0 && _connectionSendWindow.Available > 0)
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

    /// <summary>
    /// Reads the response pipe. A pipe that completed because the handler reset the stream (the reset is published
    /// before the completion) resets the stream here, and nothing is read: a failed response never ends with END_STREAM.
    /// </summary>
    private bool TryReadResponseBody(Http2Stream stream, out ReadResult result)
    {
        PipeReader body = stream.ResponseBodyReader;
        if (!body.TryRead(out result))
        {
            return false;
        }

        if (result.IsCompleted && stream.TryGetRequestedReset(out Http2ErrorCode errorCode))
        {
            body.AdvanceTo(result.Buffer.End);
            ResetStream(stream, errorCode, "reset by the application");
            return false;
        }

        return true;
    }

    private void WriteResponseHeaders(Http2Stream stream)
    {
        PipeReader body = stream.ResponseBodyReader;
        bool endStream = false;
        if (TryReadResponseBody(stream, out ReadResult result))
        {
            endStream = result.IsCompleted && (result.Buffer.IsEmpty || stream.SuppressResponseBody) && !HasTrailers(stream);
            body.AdvanceTo(endStream ? result.Buffer.End : result.Buffer.Start);
        }

        if (stream.WasReset || !TryEncodeFields(stream, stream.ResponseHeaders, stream.StatusCode))
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
        if (!TryReadResponseBody(stream, out ReadResult result))
        {
            // The pipe is empty: a pending direct write is the next body data.
            if (stream.HasDirectWrite && !stream.WasReset)
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
            long length = Math.Min(Math.Min(Math.Min(data.Length, _peerMaxFrameSize), Math.Min(stream.SendWindow.Available, _connectionSendWindow.Available)), budget);
            if (length <= 0)
            {
                break;
            }

            endOfData = bodyCompleted && length == data.Length;
            bool endStream = endOfData && !HasTrailers(stream);
            Http2FrameWriter.WriteData(_output, stream.StreamId, data.Slice(0, length), endStream);
            CountWritten(Http2FrameType.Data, stream.StreamId, endStream ? Http2FrameFlags.EndStream : Http2FrameFlags.None, (int)length);
            stream.SendWindow.Consume(length);
            stream.ResponseBytesSent += length;
            _connectionSendWindow.Consume(length);
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

    /// <summary>Trailers to send; a CONNECT tunnel carries only DATA (RFC 9113 §8.5), so its trailers are dropped.</summary>
    private static bool HasTrailers(Http2Stream stream) => stream.ResponseTrailers is { Count: > 0 } && !stream.IsConnectRequest;

    /// <summary>
    /// HPACK-encodes a header or trailer block into the scratch buffer. Every field is validated first: once the
    /// encoder has touched its dynamic table the block must be sent, or the peer's decoder falls out of step.
    /// </summary>
    private bool TryEncodeFields(Http2Stream stream, HeaderDictionary fields, int statusCode)
    {
        bool hasDate = false;
        // RFC 9113 §6.5.2: the size the client's SETTINGS_MAX_HEADER_LIST_SIZE counts, each field 32 octets over its name and value.
        long listSize = statusCode != 0 ? StatusAndDateListSize : 0;
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

                listSize += field.Key.Length + (value?.Length ?? 0) + 32;
            }
        }

        if (listSize > _peerMaxHeaderListSize)
        {
            return FailResponse(stream, $"the response fields ({listSize} octets) exceed the client's SETTINGS_MAX_HEADER_LIST_SIZE ({_peerMaxHeaderListSize})");
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
                    _hpackEncoder.EncodeHeader(field.Key, TrimWhitespace(value), _headerBlockBuffer);
                }
            }
        }

        return true;
    }

    /// <summary>RFC 9113 §8.2.1: a field value must not start or end with whitespace; most values have none and stay as they are.</summary>
    private static string TrimWhitespace(string value) =>
        value.Length > 0 && (value[0] is ' ' or '\t' || value[^1] is ' ' or '\t') ? value.Trim(' ', '\t') : value;

    private bool FailResponse(Http2Stream stream, string reason)
    {
        Http2Log.ResponseInvalid(Logger, ConnectionId, stream.StreamId, reason);
        ResetStream(stream, Http2ErrorCode.InternalError, reason);
        return false;
    }

    private void OnEndStreamSent(Http2Stream stream)
    {
        bool closed = stream.Lifecycle.Apply(StreamEvent.EndStreamSent);
        stream.ResponseBodyReader.Complete();
        if (closed)
        {
            OnStreamClosed(stream, Http2ErrorCode.NoError);
        }
        else if (stream.ApplicationCompleted)
        {
            ResetStream(stream, Http2ErrorCode.NoError, "response complete before the request");
        }
    }
}
