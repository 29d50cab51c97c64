using H2Middleware.Frames;
using H2Middleware.Streams;

namespace H2Middleware.ServeLoop;

/// <summary>
/// Flow control (RFC 9113 §5.2, §6.9) on the serve loop: the send windows that gate DATA, the streams waiting for
/// them, and the receive windows given back with batched WINDOW_UPDATEs as handlers consume request bodies.
/// </summary>
internal sealed partial class Http2Connection
{
    private readonly List<Http2Stream> _streamsWaitingForWindow = [];
    private long _connectionSendWindow = Http2Limits.DefaultInitialWindowSize;
    private int _connectionReceiveWindow;
    private int _connectionWindowToReturn;
    private int _peerInitialWindowSize = Http2Limits.DefaultInitialWindowSize;

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
