using System.IO.Pipelines;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Protocol;
using H2Middleware.Telemetry;

namespace H2Middleware.Output;

/// <summary>
/// The serve loop's write pass, run after every batch of messages: control frames first (they bypass the scheduler),
/// then owed PUSH_PROMISE frames, then stream turns in the order the write scheduler picks, encoded straight into the
/// transport's writer. At most one flush is in flight; a pass flushes when nothing more is ready (the seed's
/// needsFrameFlush) or a batch is large, so many small frames leave in one write.
/// </summary>
internal sealed class WritePass(
    FrameOutput output,
    ControlFrameQueue controlFrames,
    PushPromiseQueue pushPromises,
    SendQueue sendQueue,
    StreamTurn turn,
    ConnectionMetrics metrics,
    Action onFlushCompleted)
{
    /// <summary>
    /// A pass flushes once one stream turn's worth is written. Written bytes are committed, and the pass after the flush
    /// picks again among the streams ready by then: a handler whose turn emptied its buffer has refilled it, so its
    /// stream keeps the turns its priority earns. With two turns per flush, the second went to whichever other stream
    /// was ready, and RFC 7540 weights of 256 and 1 shared a slow link 50:50 (docs/PERFORMANCE.md, "Priorities").
    /// </summary>
    private const int MaxBytesPerFlush = StreamTurn.Quantum;

    private ValueTask<FlushResult> _pendingFlush;

    public bool FlushInFlight { get; private set; }

    /// <summary>The flush in flight, for a connection that waits for it before closing.</summary>
    public ValueTask<FlushResult> PendingFlush => _pendingFlush;

    /// <summary>Writes our SETTINGS (RFC 9113 §3.4) and, when our connection window is larger than the default, its WINDOW_UPDATE.</summary>
    public void WriteInitialSettings(ReadOnlySpan<Http2Setting> settings, int connectionWindowIncrease)
    {
        Http2FrameWriter.WriteSettings(output.Writer, settings);
        output.Count(Http2FrameType.Settings, 0, Http2FrameFlags.None, settings.Length * 6);
        if (connectionWindowIncrease > 0)
        {
            Http2FrameWriter.WriteWindowUpdate(output.Writer, 0, connectionWindowIncrease);
            output.Count(Http2FrameType.WindowUpdate, 0, Http2FrameFlags.None, 4);
        }
    }

    /// <summary>
    /// Writes until a flush is in flight or nothing is left to write. Streams get turns only while
    /// <paramref name="streamsMayWrite"/>: a closing connection sends its control frames (GOAWAY last) and nothing else.
    /// </summary>
    /// <returns>False when the transport failed (<paramref name="error"/> says how, when it threw).</returns>
    public bool Run(bool streamsMayWrite, out Exception? error)
    {
        error = null;
        while (!FlushInFlight)
        {
            WriteControlFrames();
            metrics.WritePassStarted(streamsMayWrite ? sendQueue.ScheduledCount : 0);
            if (pushPromises.HasPromises)
            {
                pushPromises.Write(connectionOpen: streamsMayWrite, turn.PeerMaxFrameSize);
            }

            while (streamsMayWrite && output.BytesSinceFlush < MaxBytesPerFlush && sendQueue.TryDequeue(out StreamEntry? stream))
            {
                int streamId = stream.StreamId;
                turn.Take(stream);
                if (stream.StreamId == streamId)
                {
                    // The turn may have ended the stream and recycled its entry: then there is nothing more to do.
                    sendQueue.AfterTurn(stream);
                }
            }

            if (output.BytesSinceFlush == 0)
            {
                return true;
            }

            if (!StartFlush(out error))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Takes the result of the flush that completed; false when the transport failed or stopped taking writes.</summary>
    public bool CompleteFlush(out Exception? error)
    {
        FlushInFlight = false;
        error = null;
        try
        {
            FlushResult result = _pendingFlush.GetAwaiter().GetResult();
            return !result.IsCompleted && !result.IsCanceled;
        }
        catch (Exception exception)
        {
            error = exception;
            return false;
        }
    }

    private bool StartFlush(out Exception? error)
    {
        error = null;
        try
        {
            _pendingFlush = output.Flush();
        }
        catch (Exception exception)
        {
            error = exception;
            return false;
        }

        FlushInFlight = true;
        if (!_pendingFlush.IsCompleted)
        {
            _pendingFlush.GetAwaiter().UnsafeOnCompleted(onFlushCompleted);
            return true;
        }

        return CompleteFlush(out error);
    }

    private void WriteControlFrames()
    {
        PipeWriter writer = output.Writer;
        while (controlFrames.TryDequeue(out ControlFrame frame))
        {
            switch (frame.Kind)
            {
                case ControlFrameKind.SettingsAck:
                    Http2FrameWriter.WriteSettingsAck(writer);
                    output.Count(Http2FrameType.Settings, 0, Http2FrameFlags.Ack, 0);
                    break;
                case ControlFrameKind.Ping:
                    Http2FrameWriter.WritePing(writer, frame.PingData, ack: false);
                    output.Count(Http2FrameType.Ping, 0, Http2FrameFlags.None, 8);
                    break;
                case ControlFrameKind.PingAck:
                    Http2FrameWriter.WritePing(writer, frame.PingData, ack: true);
                    output.Count(Http2FrameType.Ping, 0, Http2FrameFlags.Ack, 8);
                    break;
                case ControlFrameKind.RstStream:
                    Http2FrameWriter.WriteRstStream(writer, frame.StreamId, frame.ErrorCode);
                    output.Count(Http2FrameType.RstStream, frame.StreamId, Http2FrameFlags.None, 4);
                    metrics.ResetSent(frame.ErrorCode);
                    break;
                case ControlFrameKind.WindowUpdate:
                    Http2FrameWriter.WriteWindowUpdate(writer, frame.StreamId, (int)frame.Value);
                    output.Count(Http2FrameType.WindowUpdate, frame.StreamId, Http2FrameFlags.None, 4);
                    break;
                case ControlFrameKind.GoAway:
                    byte[] debugData = controlFrames.GoAwayDebugData is null ? [] : Encoding.ASCII.GetBytes(controlFrames.GoAwayDebugData);
                    Http2FrameWriter.WriteGoAway(writer, frame.StreamId, frame.ErrorCode, debugData);
                    output.Count(Http2FrameType.GoAway, 0, Http2FrameFlags.None, 8 + debugData.Length);
                    metrics.GoAwaySent(frame.ErrorCode, controlFrames.GoAwayDebugData);
                    break;
            }
        }
    }
}
