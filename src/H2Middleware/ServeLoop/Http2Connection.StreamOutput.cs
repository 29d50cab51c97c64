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

    private void OnStreamOutputReady(StreamEntry stream) => EvaluateOutput(stream);

    /// <summary>Queues the stream in the scheduler if it can send now; parks it if only a window is missing.</summary>
    private void EvaluateOutput(StreamEntry stream)
    {
        if (stream.IsScheduled || stream.LocalClosed || stream.WasReset)
        {
            return;
        }

        stream.Stream.AcknowledgeOutputNotification();
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

    private StreamOutputState GetOutputState(StreamEntry stream)
    {
        if (!stream.Stream.HasResponseStarted)
        {
            return StreamOutputState.Nothing;
        }

        if (!stream.ResponseHeadersSent)
        {
            return StreamOutputState.Ready;
        }

        PipeReader body = stream.Stream.ResponseBodyReader;
        bool hasData = stream.Stream.HasDirectWrite;
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
            return stream.Stream.SuppressResponseBody || (stream.SendWindow.Available > 0 && _connectionSendWindow.Available > 0)
                ? StreamOutputState.Ready
                : StreamOutputState.WaitingForWindow;
        }

        return completed ? StreamOutputState.Ready : StreamOutputState.Nothing;
    }

    private void UnscheduleStream(StreamEntry stream)
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
    /// Gives the stream its turn: its HEADERS if not yet sent, then body frames, then its end (END_STREAM or trailers)
    /// if it has come, as far as the turn allows. The response pipe is read once for the whole turn, and the end is
    /// decided once from that read. A small response thus leaves in one turn, HEADERS and DATA together.
    /// </summary>
    private void WriteStreamTurn(StreamEntry stream)
    {
        stream.IsScheduled = false;
        if (stream.LocalClosed)
        {
            return;
        }

        bool hasRead = TryReadResponseBody(stream, out ReadResult result);
        if (stream.LocalClosed)
        {
            // The handler's reset came with the pipe's completion: the stream was reset instead.
            return;
        }

        ReadOnlySequence<byte> read = hasRead ? result.Buffer : default;
        bool bodyComplete = hasRead && result.IsCompleted;
        // A response that must have no body (HEAD, or the 500 replacing a failed one) drops what was written.
        ReadOnlySequence<byte> data = stream.Stream.SuppressResponseBody ? read.Slice(read.End) : read;

        if (!stream.ResponseHeadersSent)
        {
            bool endWithHeaders = bodyComplete && data.IsEmpty && !HasTrailers(stream);
            if (EncodeFields(stream.Stream.ResponseHeaders, stream.Stream.StatusCode) is { } invalid)
            {
                ReleaseRead(stream, hasRead, read.Start);
                FailResponse(stream, invalid);
                return;
            }

            Http2FrameWriter.WriteHeaders(_output, stream.StreamId, _headerBlockBuffer.WrittenSpan, endWithHeaders, _peerMaxFrameSize);
            CountWritten(Http2FrameType.Headers, stream.StreamId, endWithHeaders ? Http2FrameFlags.EndStream : Http2FrameFlags.None, _headerBlockBuffer.WrittenCount);
            stream.ResponseHeadersSent = true;
            if (endWithHeaders)
            {
                ReleaseRead(stream, hasRead, read.End);
                OnEndStreamSent(stream);
                return;
            }
        }

        bool endOfBody;
        if (!data.IsEmpty)
        {
            long written = WriteDataFramesForTurn(stream, data, bodyComplete, out endOfBody);
            ReleaseRead(stream, hasRead, data.GetPosition(written));
        }
        else
        {
            ReleaseRead(stream, hasRead, read.End);
            endOfBody = bodyComplete;
            if (!endOfBody && stream.Stream.HasDirectWrite)
            {
                // The pipe is empty: a pending direct write is the next body data.
                WriteDirectDataFrames(stream);
            }
            else if (endOfBody && !HasTrailers(stream))
            {
                Http2FrameWriter.WriteData(_output, stream.StreamId, ReadOnlySpan<byte>.Empty, endStream: true);
                CountWritten(Http2FrameType.Data, stream.StreamId, Http2FrameFlags.EndStream, 0);
            }
        }

        if (endOfBody)
        {
            EndResponse(stream);
        }

        EvaluateOutput(stream);
    }

    /// <summary>Gives the turn's read back to the pipe, up to where the turn consumed it.</summary>
    private static void ReleaseRead(StreamEntry stream, bool hasRead, SequencePosition consumed)
    {
        if (hasRead)
        {
            stream.Stream.ResponseBodyReader.AdvanceTo(consumed);
        }
    }

    /// <summary>The body has gone out: the trailers end the stream if there are any; otherwise the last DATA carried END_STREAM.</summary>
    private void EndResponse(StreamEntry stream)
    {
        if (!HasTrailers(stream))
        {
            OnEndStreamSent(stream);
            return;
        }

        if (EncodeFields(stream.Stream.ResponseTrailers!, statusCode: 0) is { } invalid)
        {
            FailResponse(stream, invalid);
            return;
        }

        Http2FrameWriter.WriteHeaders(_output, stream.StreamId, _headerBlockBuffer.WrittenSpan, endStream: true, _peerMaxFrameSize);
        CountWritten(Http2FrameType.Headers, stream.StreamId, Http2FrameFlags.EndStream, _headerBlockBuffer.WrittenCount);
        OnEndStreamSent(stream);
    }

    /// <summary>
    /// Reads the response pipe. A pipe that completed because the handler reset the stream (the reset is published
    /// before the completion) resets the stream here, and nothing is read: a failed response never ends with END_STREAM.
    /// </summary>
    private bool TryReadResponseBody(StreamEntry stream, out ReadResult result)
    {
        PipeReader body = stream.Stream.ResponseBodyReader;
        if (!body.TryRead(out result))
        {
            return false;
        }

        if (result.IsCompleted && stream.Stream.TryGetRequestedReset(out Http2ErrorCode errorCode))
        {
            body.AdvanceTo(result.Buffer.End);
            ResetStream(stream, errorCode, "reset by the application");
            return false;
        }

        return true;
    }

    /// <summary>Sends DATA straight from the handler's buffer; the handler's write completes when all of it is out.</summary>
    private void WriteDirectDataFrames(StreamEntry stream)
    {
        long written = WriteDataFramesForTurn(stream, new ReadOnlySequence<byte>(stream.Stream.DirectWrite), bodyCompleted: false, out _);
        stream.Stream.ConsumeDirectWrite((int)written);
    }

    /// <summary>The frames of one turn; END_STREAM goes on the last one when the body is complete and no trailers follow.</summary>
    private long WriteDataFramesForTurn(StreamEntry stream, ReadOnlySequence<byte> data, bool bodyCompleted, out bool endOfData)
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

    /// <summary>Trailers to send; a CONNECT tunnel carries only DATA (RFC 9113 §8.5), so its trailers are dropped.</summary>
    private static bool HasTrailers(StreamEntry stream) => stream.Stream.ResponseTrailers is { Count: > 0 } && !stream.Stream.IsConnectRequest;

    /// <summary>
    /// HPACK-encodes a header or trailer block into the scratch buffer, or returns why it cannot be sent. Every field is
    /// validated first: once the encoder has touched its dynamic table the block must be sent, or the client's decoder
    /// falls out of step.
    /// </summary>
    private string? EncodeFields(HeaderDictionary fields, int statusCode)
    {
        bool hasDate = false;
        // RFC 9113 §6.5.2: the size the client's SETTINGS_MAX_HEADER_LIST_SIZE counts, each field 32 octets over its name and value.
        long listSize = statusCode != 0 ? StatusAndDateListSize : 0;
        foreach (KeyValuePair<string, StringValues> field in fields)
        {
            if (!HeaderFieldRules.IsValidResponseName(field.Key))
            {
                return $"invalid response field name '{field.Key}'";
            }

            hasDate |= field.Key.Length == 4 && field.Key.Equals(HeaderNames.Date, StringComparison.OrdinalIgnoreCase);

            foreach (string? value in field.Value)
            {
                if (value is not null && !HeaderFieldRules.IsValidValue(value.AsSpan()))
                {
                    return $"invalid value for response field '{field.Key}'";
                }

                listSize += field.Key.Length + (value?.Length ?? 0) + 32;
            }
        }

        if (listSize > _peerMaxHeaderListSize)
        {
            return $"the response fields ({listSize} octets) exceed the client's SETTINGS_MAX_HEADER_LIST_SIZE ({_peerMaxHeaderListSize})";
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

        return null;
    }

    /// <summary>RFC 9113 §8.2.1: a field value must not start or end with whitespace; most values have none and stay as they are.</summary>
    private static string TrimWhitespace(string value) =>
        value.Length > 0 && (value[0] is ' ' or '\t' || value[^1] is ' ' or '\t') ? value.Trim(' ', '\t') : value;

    private void FailResponse(StreamEntry stream, string reason)
    {
        Http2Log.ResponseInvalid(Logger, ConnectionId, stream.StreamId, reason);
        ResetStream(stream, Http2ErrorCode.InternalError, reason);
    }

    private void OnEndStreamSent(StreamEntry stream)
    {
        bool closed = stream.Lifecycle.Apply(StreamEvent.EndStreamSent);
        stream.Stream.ResponseBodyReader.Complete();
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
