using System.IO.Pipelines;
using H2Middleware.Frames;
using H2Middleware.ServeLoop;
using H2Middleware.Telemetry;
using Microsoft.Extensions.Logging;

namespace H2Middleware.Output;

/// <summary>
/// The transport's writer as the serve loop uses it: frames are encoded straight into it, and what was written since
/// the last flush is counted (each frame is traced too), so that the write pass knows when a flush is due.
/// </summary>
internal sealed class FrameOutput(PipeWriter writer, ILogger logger, string connectionId, ConnectionMetrics metrics)
{
    public PipeWriter Writer => writer;

    /// <summary>Bytes written since the last flush started.</summary>
    public long BytesSinceFlush { get; private set; }

    /// <summary>Counts a frame just written.</summary>
    public void Count(Http2FrameType type, int streamId, Http2FrameFlags flags, int payloadLength)
    {
        BytesSinceFlush += Http2FrameHeader.Size + payloadLength;
        metrics.FrameSent(type, payloadLength);
        if (logger.IsEnabled(LogLevel.Trace))
        {
            Http2Log.FrameSent(logger, connectionId, type, streamId, (byte)flags, payloadLength);
        }
    }

    /// <summary>
    /// Counts the frames of a field block as <see cref="Http2FrameWriter"/> cut it: the first frame (HEADERS, or
    /// PUSH_PROMISE with its promised id in <paramref name="firstPrefix"/> octets), then CONTINUATION frames.
    /// </summary>
    public void CountFieldBlock(Http2FrameType type, int streamId, Http2FrameFlags flags, int firstPrefix, int blockLength, int maxFrameSize)
    {
        int first = Math.Min(blockLength, maxFrameSize - firstPrefix);
        Count(type, streamId, flags | (first == blockLength ? Http2FrameFlags.EndHeaders : Http2FrameFlags.None), firstPrefix + first);
        for (int offset = first; offset < blockLength; offset += maxFrameSize)
        {
            int length = Math.Min(blockLength - offset, maxFrameSize);
            Count(Http2FrameType.Continuation, streamId, offset + length == blockLength ? Http2FrameFlags.EndHeaders : Http2FrameFlags.None, length);
        }
    }

    /// <summary>A flush takes everything written so far.</summary>
    public ValueTask<FlushResult> Flush()
    {
        BytesSinceFlush = 0;
        return writer.FlushAsync();
    }
}
