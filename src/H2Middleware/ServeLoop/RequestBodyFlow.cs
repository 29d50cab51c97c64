using System.Buffers;
using System.IO.Pipelines;
using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.Streams;

namespace H2Middleware.ServeLoop;

/// <summary>
/// Request bodies on their way in (RFC 9113 §5.2, §6.9): DATA goes into each stream's request pipe, and the window of
/// what handlers consume (or examine) goes back to the client in batched WINDOW_UPDATEs, on the stream and the
/// connection. Examined bytes get their window back too, as under Kestrel, or a reader that waits for a whole message
/// before consuming it (gRPC) would stall once the window is spent; the window then no longer bounds what a stream
/// buffers, so past <c>maxBufferedPerStream</c> unconsumed bytes only consumed ones are given back. With adaptive
/// receive windows (<see cref="ReceiveWindowTuner"/>) the connection's window and those of streams whose handlers read
/// grow; what a stream may hold unconsumed stays what it is without growth: <c>maxBufferedPerStream</c> and the
/// initial stream window.
/// </summary>
internal sealed class RequestBodyFlow(
    int connectionWindow,
    int initialStreamWindow,
    long maxBufferedPerStream,
    ControlFrameQueue controlFrames,
    ReceiveWindowTuner windowTuner)
{
    // A run of empty DATA frames costs us work but carries nothing (CVE-2019-9518).
    private const int MaxConsecutiveEmptyFrames = 100;

    private int _emptyFrames;

    /// <summary>How much DATA the client may still send on the connection.</summary>
    public InboundWindow ConnectionWindow { get; } = new(connectionWindow);

    /// <summary>Counts a DATA frame that carries nothing (no data, no padding, no END_STREAM); too many in a row are a connection error.</summary>
    public void CountFrame(bool empty)
    {
        if (!empty)
        {
            _emptyFrames = 0;
        }
        else if (++_emptyFrames > MaxConsecutiveEmptyFrames)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "too many empty DATA frames");
        }
    }

    /// <summary>Writes a DATA frame's payload to the stream's request pipe; false when it goes past the declared content-length.</summary>
    public bool Deliver(StreamEntry stream, in ReadOnlySequence<byte> data, int flowControlled)
    {
        // Only a window the client has half used, on a stream whose handler reads, can be what holds the client back.
        bool windowMayLimit = stream.RequestBodyReleased > 0 && (ConnectionWindow.IsHalfUsed || stream.ReceiveWindow.IsHalfUsed);
        if (windowTuner.OnDataReceived(flowControlled, windowMayLimit, out ulong pingData))
        {
            controlFrames.Enqueue(new ControlFrame(ControlFrameKind.Ping, PingData: pingData));
        }

        int padding = flowControlled - (int)data.Length;
        if (padding > 0)
        {
            // Padding is never read by the handler: its window comes back at once.
            ReturnWindow(stream, padding);
        }

        if (data.IsEmpty)
        {
            return true;
        }

        if (stream.DiscardingRequestBody)
        {
            ReturnWindow(stream, (int)data.Length);
            return true;
        }

        stream.RequestBodyReceived += data.Length;
        if (stream.Stream.DeclaredContentLength is { } declared && stream.RequestBodyReceived > declared)
        {
            // The frame is refused with its stream: its bytes will never be read, so the connection gets them back.
            ReturnConnectionWindow((int)data.Length);
            return false;
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
            StopReceiving(stream);
        }

        return true;
    }

    /// <summary>The handler has consumed and examined more of the body (totals since the stream began).</summary>
    public void OnConsumed(StreamEntry stream, long consumed, long examined)
    {
        if (consumed == RequestBodyReader.BodyReaderCompleted)
        {
            StopReceiving(stream);
            return;
        }

        if (stream.DiscardingRequestBody)
        {
            return;
        }

        stream.RequestBodyConsumed = Math.Max(stream.RequestBodyConsumed, consumed);
        stream.RequestBodyExamined = Math.Max(stream.RequestBodyExamined, Math.Max(consumed, examined));
        if (stream.RequestBodyExamined >= stream.RequestBodyDelivered)
        {
            // The handler has seen every byte that arrived: it waits for the client from here.
            stream.RequestBodyWaitedSinceCheck = true;
        }

        bool underBufferLimit = stream.RequestBodyDelivered - stream.RequestBodyConsumed <= maxBufferedPerStream;
        long released = Math.Min(underBufferLimit ? Math.Max(consumed, examined) : stream.RequestBodyConsumed, stream.RequestBodyDelivered);
        // A grown window lets the client send that much more before any refund: examined bytes get back that much less.
        released = Math.Min(released, stream.RequestBodyConsumed + UnconsumedLimit - stream.ReceiveWindow.TargetSize);
        if (released > stream.RequestBodyReleased)
        {
            ReturnWindow(stream, (int)(released - stream.RequestBodyReleased));
            stream.RequestBodyReleased = released;
            SendUpdateIfDue(stream);
        }

        if (!underBufferLimit && stream.RequestBodyExamined >= stream.RequestBodyDelivered && !stream.RemoteClosed
            && (stream.ReceiveWindow.Available == 0 || ConnectionWindow.Available == 0))
        {
            // The handler waits for more of the body before it consumes any, and the client may send no more until it
            // does: neither could ever move. The read fails instead of waiting forever.
            stream.Stream.FailRequestBodyOverBuffer(maxBufferedPerStream);
            StopReceiving(stream);
        }
    }

    /// <summary>
    /// A PING ack arrived; when it ends a window sample that grows the windows, the connection's growth is announced at
    /// once, and so is that of each stream whose handler reads its body; other streams' windows grow with their next refund.
    /// </summary>
    public void OnPingAcknowledged(ulong pingData, IEnumerable<StreamEntry> streams)
    {
        if (!windowTuner.OnPingAcknowledged(pingData))
        {
            return;
        }

        ConnectionWindow.GrowTo(windowTuner.ConnectionWindow);
        Announce(0, ConnectionWindow.TakeGrowth());
        foreach (StreamEntry stream in streams)
        {
            if (stream.RequestBodyReleased > 0 && !stream.RemoteClosed && !stream.DiscardingRequestBody)
            {
                GrowStreamWindow(stream);
                Announce(stream.StreamId, stream.ReceiveWindow.TakeGrowth());
            }
        }
    }

    /// <summary>From now on the stream's DATA is counted and dropped; the connection window of what sits unread in its pipe is given back.</summary>
    public void StopReceiving(StreamEntry stream)
    {
        if (stream.DiscardingRequestBody)
        {
            return;
        }

        stream.DiscardingRequestBody = true;
        ReturnConnectionWindow((int)(stream.RequestBodyDelivered - stream.RequestBodyReleased));
        stream.RequestBodyReleased = stream.RequestBodyDelivered;
    }

    /// <summary>Bytes the client may send again on the connection: announced once enough of them have been freed.</summary>
    public void ReturnConnectionWindow(int bytes)
    {
        ConnectionWindow.Free(bytes);
        Announce(0, ConnectionWindow.TakeDueUpdate());
    }

    /// <summary>The stream's WINDOW_UPDATE, once enough has been freed; a stream whose request has ended takes no more.</summary>
    public void SendUpdateIfDue(StreamEntry stream)
    {
        if (stream.RemoteClosed)
        {
            return;
        }

        // Only a stream whose handler has consumed some of its body grows: padding alone must not earn a larger window.
        if (windowTuner.StreamWindow > stream.ReceiveWindow.TargetSize && !stream.DiscardingRequestBody && stream.RequestBodyReleased > 0)
        {
            GrowStreamWindow(stream);
        }

        Announce(stream.StreamId, stream.ReceiveWindow.TakeDueUpdate());
    }

    /// <summary>What a stream may hold unconsumed: what was delivered beyond what was consumed, however large its window grew.</summary>
    private long UnconsumedLimit => maxBufferedPerStream + initialStreamWindow;

    /// <summary>
    /// Grows the stream's window towards the tuner's size (announced with its next update), as far as the client could
    /// then send no more than <see cref="UnconsumedLimit"/> beyond what the handler consumed.
    /// </summary>
    private void GrowStreamWindow(StreamEntry stream)
    {
        long room = UnconsumedLimit - (stream.RequestBodyReleased - stream.RequestBodyConsumed);
        stream.ReceiveWindow.GrowTo((int)Math.Min(windowTuner.StreamWindow, room));
    }

    private void Announce(int streamId, int increment)
    {
        if (increment > 0)
        {
            controlFrames.Enqueue(new ControlFrame(ControlFrameKind.WindowUpdate, streamId, increment));
        }
    }

    /// <summary>Bytes the client may send again on the stream and the connection.</summary>
    private void ReturnWindow(StreamEntry stream, int bytes)
    {
        ReturnConnectionWindow(bytes);
        if (!stream.RemoteClosed)
        {
            stream.ReceiveWindow.Free(bytes);
        }
    }
}
