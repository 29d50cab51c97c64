using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.Streams;

namespace H2Middleware.ServeLoop;

/// <summary>
/// Flow control (RFC 9113 §5.2, §6.9) on the serve loop: the send windows that gate DATA, the streams waiting for
/// them, and the receive windows given back with batched WINDOW_UPDATEs as handlers consume request bodies.
/// </summary>
internal sealed partial class Http2Connection
{
    private readonly InboundWindow _connectionReceiveWindow;
    private int _peerInitialWindowSize = Http2Limits.DefaultInitialWindowSize;

    private void ChangeInitialSendWindow(int newInitialWindow)
    {
        // RFC 9113 §6.9.2: the change applies to every open stream's window, which may go negative.
        long delta = (long)newInitialWindow - _peerInitialWindowSize;
        _peerInitialWindowSize = newInitialWindow;
        foreach (StreamEntry stream in _streams.Values)
        {
            if (!stream.IsClosed && !stream.SendWindow.TryApplyInitialSizeChange(delta))
            {
                throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window");
            }
        }

        if (delta > 0)
        {
            _sendQueue.ResumeWaitingStreams();
        }
    }

    /// <summary>Bytes the client may send again on the connection: announced once enough of them have been freed.</summary>
    private void ReturnConnectionWindow(int bytes)
    {
        _connectionReceiveWindow.Free(bytes);
        int increment = _connectionReceiveWindow.TakeDueUpdate();
        if (increment > 0)
        {
            QueueWindowUpdate(0, increment);
        }
    }

    /// <summary>Bytes the client may send again on the stream and the connection; a stream whose request has ended takes no more.</summary>
    private void ReturnWindow(StreamEntry stream, int bytes)
    {
        ReturnConnectionWindow(bytes);
        if (!stream.RemoteClosed)
        {
            stream.ReceiveWindow.Free(bytes);
        }
    }

    private void SendWindowUpdatesIfDue(StreamEntry stream)
    {
        if (stream.RemoteClosed)
        {
            return;
        }

        int increment = stream.ReceiveWindow.TakeDueUpdate();
        if (increment > 0)
        {
            QueueWindowUpdate(stream.StreamId, increment);
        }
    }

    private void QueueWindowUpdate(int streamId, int increment) =>
        QueueControlFrame(new ControlFrame(ControlFrameKind.WindowUpdate, streamId, increment));
}
