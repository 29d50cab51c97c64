using System.Buffers;
using H2Middleware.Frames;
using H2Middleware.Protocol;

namespace H2Middleware.Output;

/// <summary>
/// One stream's turn when the scheduler picks it: its HEADERS if not yet sent, then DATA from its response body (or straight
/// from the handler's buffer) cut to the windows and the peer's frame size, up to <see cref="Quantum"/> bytes, then its
/// end (END_STREAM or trailers) if it has come. The response body is read once per turn, and the end is decided once
/// from that read, so a small response leaves in one turn, HEADERS and DATA together.
/// </summary>
internal sealed class StreamTurn(FrameOutput output, ResponseFieldEncoder fields, OutboundWindow connectionWindow, IStreamOutputEvents events)
{
    /// <summary>How many DATA bytes one stream may write per turn before the scheduler picks again.</summary>
    /// <remarks>
    /// Counting the frame headers in the quantum (so that a full turn fills a 64 KiB buffer exactly) was tried: the
    /// priority scenario P1's small responses then waited 25 ms instead of 19 behind a download, on every run.
    /// </remarks>
    public const int Quantum = 64 * 1024;

    /// <summary>The client's SETTINGS_MAX_FRAME_SIZE.</summary>
    public int PeerMaxFrameSize { get; set; } = Http2Limits.DefaultMaxFrameSize;

    public void Take(StreamEntry stream)
    {
        if (stream.LocalClosed)
        {
            return;
        }

        bool hasRead = ResponseRead.TryRead(stream, events, out ReadOnlySequence<byte> read, out bool bodyComplete);
        if (stream.LocalClosed)
        {
            // The handler's reset came with the body's completion: the stream was reset instead.
            return;
        }

        bodyComplete &= hasRead;
        // A response that must have no body (HEAD, or the 500 replacing a failed one) drops what was written.
        ReadOnlySequence<byte> data = stream.Stream.SuppressResponseBody ? read.Slice(read.End) : read;

        if (!stream.ResponseHeadersSent)
        {
            bool endWithHeaders = bodyComplete && data.IsEmpty && !HasTrailers(stream);
            if (fields.Encode(stream.Stream.ResponseHeaders, stream.Stream.StatusCode) is { } invalid)
            {
                ReleaseRead(stream, hasRead, 0);
                events.OnResponseInvalid(stream, invalid);
                return;
            }

            WriteFieldBlock(stream.StreamId, endWithHeaders);
            stream.ResponseHeadersSent = true;
            events.OnResponseHeadersSent(stream);
            if (endWithHeaders)
            {
                ReleaseRead(stream, hasRead, read.Length);
                events.OnEndStreamSent(stream);
                return;
            }
        }

        bool endOfBody;
        if (!data.IsEmpty)
        {
            long written = WriteDataFrames(stream, data, bodyComplete, out endOfBody);
            ReleaseRead(stream, hasRead, written);
        }
        else
        {
            ReleaseRead(stream, hasRead, read.Length);
            endOfBody = bodyComplete;
            if (!endOfBody && stream.Stream.HasDirectWrite)
            {
                // Nothing is buffered: a pending direct write is the next body data.
                WriteDirectDataFrames(stream);
            }
            else if (endOfBody && !HasTrailers(stream))
            {
                Http2FrameWriter.WriteData(output.Writer, stream.StreamId, ReadOnlySpan<byte>.Empty, endStream: true);
                output.Count(Http2FrameType.Data, stream.StreamId, Http2FrameFlags.EndStream, 0);
            }
        }

        if (endOfBody)
        {
            EndResponse(stream);
        }
    }

    /// <summary>Gives the turn's read back to the body, with how many of its bytes the turn consumed.</summary>
    private static void ReleaseRead(StreamEntry stream, bool hasRead, long consumed)
    {
        if (hasRead)
        {
            stream.Stream.ResponseBody.Release(consumed);
        }
    }

    /// <summary>The body has gone out: the trailers end the stream if there are any; otherwise the last DATA carried END_STREAM.</summary>
    private void EndResponse(StreamEntry stream)
    {
        if (HasTrailers(stream))
        {
            if (fields.Encode(stream.Stream.ResponseTrailers!, statusCode: 0) is { } invalid)
            {
                events.OnResponseInvalid(stream, invalid);
                return;
            }

            WriteFieldBlock(stream.StreamId, endStream: true);
        }

        events.OnEndStreamSent(stream);
    }

    /// <summary>HEADERS, and CONTINUATION frames past the peer's frame size; each frame is counted as the writer cut it.</summary>
    private void WriteFieldBlock(int streamId, bool endStream)
    {
        ReadOnlySpan<byte> block = fields.Block;
        Http2FrameWriter.WriteHeaders(output.Writer, streamId, block, endStream, PeerMaxFrameSize);
        output.CountFieldBlock(Http2FrameType.Headers, streamId, endStream ? Http2FrameFlags.EndStream : Http2FrameFlags.None, firstPrefix: 0, block.Length, PeerMaxFrameSize);
    }

    /// <summary>Sends DATA straight from the handler's buffer; the handler's write completes when all of it is out.</summary>
    private void WriteDirectDataFrames(StreamEntry stream)
    {
        long written = WriteDataFrames(stream, new ReadOnlySequence<byte>(stream.Stream.DirectWrite), bodyCompleted: false, out _);
        stream.Stream.ConsumeDirectWrite((int)written);
    }

    /// <summary>The DATA frames of one turn; END_STREAM goes on the last one when the body is complete and no trailers follow.</summary>
    private long WriteDataFrames(StreamEntry stream, ReadOnlySequence<byte> data, bool bodyCompleted, out bool endOfData)
    {
        long budget = Quantum;
        long written = 0;
        endOfData = false;
        ReserveRoomForData(Math.Min(Math.Min(data.Length, budget), Math.Min(stream.SendWindow.Available, connectionWindow.Available)));
        while (!data.IsEmpty && budget > 0)
        {
            long window = Math.Min(stream.SendWindow.Available, connectionWindow.Available);
            long length = Math.Min(Math.Min(Math.Min(data.Length, PeerMaxFrameSize), window), budget);
            if (length <= 0)
            {
                break;
            }

            endOfData = bodyCompleted && length == data.Length;
            bool endStream = endOfData && !HasTrailers(stream);
            Http2FrameWriter.WriteData(output.Writer, stream.StreamId, data.Slice(0, length), endStream);
            output.Count(Http2FrameType.Data, stream.StreamId, endStream ? Http2FrameFlags.EndStream : Http2FrameFlags.None, (int)length);
            stream.SendWindow.Consume(length);
            connectionWindow.Consume(length);
            stream.ResponseBytesSent += length;
            budget -= length;
            written += length;
            data = data.Slice(length);
        }

        return written;
    }

    /// <summary>
    /// Asks the transport's writer for room for the turn's DATA frames in one piece. Past the pool's block size it gets a
    /// buffer of its own, so the flush leaves as one buffer rather than a chain of blocks: one send with no per-send
    /// vector arrays on a socket, and whole records rather than one per block under TLS.
    /// </summary>
    private void ReserveRoomForData(long dataBytes)
    {
        if (dataBytes <= 0)
        {
            return;
        }

        long frames = (dataBytes + PeerMaxFrameSize - 1) / PeerMaxFrameSize;
        // At most the quantum: a larger hint rents a 128 KiB array, from the large-object heap when the pool runs dry;
        // the headers of a full turn's last frames then spill into one more small block.
        output.Writer.GetMemory((int)Math.Min(dataBytes + (frames * Http2FrameHeader.Size), Quantum));
    }

    /// <summary>Trailers to send; a CONNECT tunnel carries only DATA (RFC 9113 §8.5), so its trailers are dropped.</summary>
    private static bool HasTrailers(StreamEntry stream) => stream.Stream.ResponseTrailers is { Count: > 0 } && !stream.Stream.IsConnectRequest;
}
