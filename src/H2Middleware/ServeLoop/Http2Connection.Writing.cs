using System.IO.Pipelines;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Streams;

namespace H2Middleware.ServeLoop;

/// <summary>
/// The write side: control frames first, then streams in the order the write scheduler picks, encoded straight
/// into the transport's PipeWriter. At most one flush is in flight; the loop flushes when nothing more is ready
/// (the seed's needsFrameFlush) or a batch is large, so many small frames leave in one write.
/// </summary>
internal sealed partial class Http2Connection
{
    private const int MaxBytesPerFlush = 128 * 1024;

    private const int MaxQueuedControlFrames = 10_000;

    private readonly Queue<ControlFrame> _controlFrames = new();
    private readonly Action _onFlushCompleted;
    private ValueTask<FlushResult> _pendingFlush;
    private bool _flushInFlight;
    private long _bytesSinceFlush;
    private bool _closing;
    // Streams above this id are ignored: the client knows from our GOAWAY that they were not processed (RFC 9113 §6.8).
    private int _goAwayLastStreamId = Http2Limits.MaxStreamId;
    private string? _goAwayDebugData;
    private int _peerMaxFrameSize = Http2Limits.DefaultMaxFrameSize;
    // The client's advisory SETTINGS_MAX_HEADER_LIST_SIZE: a larger response header block would only be refused.
    private long _peerMaxHeaderListSize = long.MaxValue;

    private void QueueInitialSettings()
    {
        Span<Http2Setting> settings =
        [
            new(Http2SettingsParameter.MaxConcurrentStreams, (uint)Options.MaxStreamsPerConnection),
            new(Http2SettingsParameter.InitialWindowSize, (uint)Options.InitialStreamWindowSize),
            new(Http2SettingsParameter.MaxFrameSize, (uint)Options.MaxFrameSize),
            new(Http2SettingsParameter.HeaderTableSize, (uint)Options.HeaderTableSize),
            new(Http2SettingsParameter.MaxHeaderListSize, (uint)Options.MaxRequestHeaderListSize),
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

    /// <param name="debugData">Why, for the peer's diagnostics (RFC 9113 §6.8): ASCII, without anything secret.</param>
    private void SendGoAway(Http2ErrorCode errorCode, int lastStreamId, string? debugData = null)
    {
        _goAwayLastStreamId = lastStreamId;
        _goAwayDebugData = debugData;
        _controlFrames.Enqueue(new ControlFrame(ControlFrameKind.GoAway, lastStreamId, (long)errorCode));
        Http2Log.GoAwaySent(Logger, ConnectionId, lastStreamId, errorCode);
    }

    /// <summary>The loop's write pass: runs after every batch of messages.</summary>
    private void WriteFrames()
    {
        while (!_flushInFlight && !_stopped)
        {
            WriteControlFrames();
            // A closing connection has no open stream left: only its control frames (GOAWAY last) still go out.
            while (!_closing && _bytesSinceFlush < MaxBytesPerFlush && _scheduler.TryDequeue(out var scheduled))
            {
                WriteStreamTurn((StreamEntry)scheduled);
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
                case ControlFrameKind.Ping:
                    Http2FrameWriter.WritePing(_output, frame.PingData, ack: false);
                    CountWritten(Http2FrameType.Ping, 0, Http2FrameFlags.None, 8);
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
                    byte[] debugData = _goAwayDebugData is null ? [] : Encoding.ASCII.GetBytes(_goAwayDebugData);
                    Http2FrameWriter.WriteGoAway(_output, frame.StreamId, frame.ErrorCode, debugData);
                    CountWritten(Http2FrameType.GoAway, 0, Http2FrameFlags.None, 8 + debugData.Length);
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
        try
        {
            _pendingFlush = _output.FlushAsync();
        }
        catch (Exception exception)
        {
            Http2Log.TransportFailed(Logger, ConnectionId, "writing to the transport failed", exception);
            Abort("writing to the transport failed");
            return;
        }

        _flushInFlight = true;
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

}
