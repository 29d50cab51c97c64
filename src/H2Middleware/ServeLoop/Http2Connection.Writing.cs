using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Protocol;

namespace H2Middleware.ServeLoop;

/// <summary>The loop's side of the output: what it queues for the write pass, and what it does when a response ends.</summary>
internal sealed partial class Http2Connection : IStreamOutputEvents
{
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
            new(Http2SettingsParameter.EnableConnectProtocol, Options.EnableExtendedConnect ? 1u : 0u),
        ];
        _writePass.WriteInitialSettings(settings, Options.InitialConnectionWindowSize - Http2Limits.DefaultInitialWindowSize);
        _unacknowledgedSettings++;
        ArmSettingsAckTimer();
    }

    private void QueueControlFrame(in ControlFrame frame) => _writePass.QueueControlFrame(frame);

    private void SendGoAway(Http2ErrorCode errorCode, int lastStreamId, string? debugData = null)
    {
        _goAwayLastStreamId = lastStreamId;
        _writePass.QueueGoAway(errorCode, lastStreamId, debugData);
        Http2Log.GoAwaySent(Logger, ConnectionId, lastStreamId, errorCode);
    }

    /// <summary>The loop's write pass: runs after every batch of messages.</summary>
    private void WriteFrames()
    {
        if (!_writePass.Run(streamsMayWrite: !_closing, out Exception? error))
        {
            OnTransportWriteFailed(error);
        }
        else if (_closing && !_writePass.FlushInFlight && !_writePass.HasControlFrames)
        {
            _stopped = true;
        }
    }

    private void OnFlushCompleted()
    {
        if (!_writePass.CompleteFlush(out Exception? error))
        {
            OnTransportWriteFailed(error);
        }
    }

    private void OnTransportWriteFailed(Exception? error)
    {
        string reason = error is null ? "the transport stopped accepting writes" : "writing to the transport failed";
        if (error is not null)
        {
            Http2Log.TransportFailed(Logger, ConnectionId, reason, error);
        }

        Abort(reason);
    }

    void IStreamOutputEvents.OnEndStreamSent(StreamEntry stream)
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

    void IStreamOutputEvents.OnApplicationReset(StreamEntry stream, Http2ErrorCode errorCode) =>
        ResetStream(stream, errorCode, "reset by the application");

    void IStreamOutputEvents.OnResponseInvalid(StreamEntry stream, string reason)
    {
        Http2Log.ResponseInvalid(Logger, ConnectionId, stream.StreamId, reason);
        ResetStream(stream, Http2ErrorCode.InternalError, reason);
    }
}
