using H2Middleware.Frames;
using H2Middleware.ServeLoop;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Telemetry;

/// <summary>
/// What one connection's serve loop records, on the loop only. Every measurement first asks its instrument whether
/// anyone listens, and tags only with strings made once (<see cref="Http2TagValues"/>), so without a listener a
/// request costs a few branches and no allocation. The up-down counters stay balanced when a listener comes or goes
/// mid-connection: a connection takes back only what it added; a stream's duration is timed only if the histogram
/// was listened to when it opened.
/// </summary>
internal sealed class ConnectionMetrics(Http2Metrics metrics, IFeatureCollection connectionFeatures, TimeProvider time)
{
    private long _activeStreamsAdded;
    private long _queuedStreamsAdded;
    private Dictionary<int, long>? _openedAt;

    public void StreamOpened(int streamId)
    {
        if (metrics.Streams.Enabled)
        {
            metrics.Streams.Add(1);
        }

        if (metrics.ActiveStreams.Enabled)
        {
            metrics.ActiveStreams.Add(1);
            _activeStreamsAdded++;
        }

        if (metrics.StreamDuration.Enabled)
        {
            (_openedAt ??= [])[streamId] = time.GetTimestamp();
        }
    }

    public void StreamClosed(int streamId)
    {
        if (_activeStreamsAdded > 0)
        {
            _activeStreamsAdded--;
            metrics.ActiveStreams.Add(-1);
        }

        if (_openedAt is not null && _openedAt.Remove(streamId, out long openedAt))
        {
            metrics.StreamDuration.Record(time.GetElapsedTime(openedAt).TotalSeconds);
        }
    }

    /// <summary>A stream waits for a handler slot.</summary>
    public void StreamQueued()
    {
        if (metrics.QueuedStreams.Enabled)
        {
            metrics.QueuedStreams.Add(1);
            _queuedStreamsAdded++;
        }
    }

    /// <summary>Streams stopped waiting for a handler slot: their handlers run, or never will.</summary>
    public void StreamsLeftQueue(int count)
    {
        long taken = Math.Min(count, _queuedStreamsAdded);
        if (taken > 0)
        {
            _queuedStreamsAdded -= taken;
            metrics.QueuedStreams.Add(-taken);
        }
    }

    public void FrameReceived(in Http2Frame frame)
    {
        CountFrame(frame.Type, frame.Header.PayloadLength, Http2TagValues.Received);
        if (frame.Type == Http2FrameType.RstStream)
        {
            CountReset(frame.ErrorCode, Http2TagValues.Received);
        }
        else if (frame.Type == Http2FrameType.GoAway)
        {
            CountGoAway(frame.ErrorCode, debugData: null, Http2TagValues.Received);
        }
    }

    public void FrameSent(Http2FrameType type, int payloadLength) => CountFrame(type, payloadLength, Http2TagValues.Sent);

    public void ResetSent(Http2ErrorCode errorCode) => CountReset(errorCode, Http2TagValues.Sent);

    /// <param name="debugData">The GOAWAY's debug data: a <see cref="ConnectionEndReason"/> name, when it is one, is the reason.</param>
    public void GoAwaySent(Http2ErrorCode errorCode, string? debugData) => CountGoAway(errorCode, debugData, Http2TagValues.Sent);

    /// <summary>A client error drew on the connection's budget.</summary>
    public void ClientError(ConnectionEndReason cause)
    {
        if (metrics.ClientErrors.Enabled)
        {
            metrics.ClientErrors.Add(1, new KeyValuePair<string, object?>(Http2TagValues.Reason, ConnectionEndTags.Of(cause)));
        }
    }

    /// <summary>A write pass starts giving turns to the streams in the write scheduler; passes with none are not recorded.</summary>
    public void WritePassStarted(int scheduledStreams)
    {
        if (scheduledStreams > 0 && metrics.WriteSchedulerQueueDepth.Enabled)
        {
            metrics.WriteSchedulerQueueDepth.Record(scheduledStreams);
        }
    }

    /// <summary>How long a stream's response had data to send but no flow-control window.</summary>
    public void RecordStall(TimeSpan stalled)
    {
        if (metrics.FlowControlStall.Enabled)
        {
            metrics.FlowControlStall.Record(stalled.TotalSeconds);
        }
    }

    /// <summary>The connection fails with a GOAWAY: Kestrel's connection metrics get its reason as <c>error.type</c>.</summary>
    public void ConnectionFailed(Http2ErrorCode errorCode, string reason)
    {
        if (errorCode != Http2ErrorCode.NoError)
        {
            KestrelConnectionTags.SetErrorType(connectionFeatures, ConnectionEndTags.OfGoAway(errorCode, reason));
        }
    }

    /// <summary>The connection ends without a GOAWAY (one of the <see cref="ConnectionEndTags"/> names).</summary>
    public void ConnectionLost(string errorType) => KestrelConnectionTags.SetErrorType(connectionFeatures, errorType);

    private void CountFrame(Http2FrameType type, int payloadLength, string direction)
    {
        if (metrics.Frames.Enabled)
        {
            metrics.Frames.Add(1, new KeyValuePair<string, object?>(Http2TagValues.FrameType, Http2TagValues.Of(type)), new KeyValuePair<string, object?>(Http2TagValues.Direction, direction));
        }

        if (metrics.Bytes.Enabled)
        {
            metrics.Bytes.Add(Http2FrameHeader.Size + payloadLength, new KeyValuePair<string, object?>(Http2TagValues.FrameType, Http2TagValues.Of(type)), new KeyValuePair<string, object?>(Http2TagValues.Direction, direction));
        }
    }

    private void CountReset(Http2ErrorCode errorCode, string direction)
    {
        if (metrics.Resets.Enabled)
        {
            metrics.Resets.Add(1, new KeyValuePair<string, object?>(Http2TagValues.Direction, direction), new KeyValuePair<string, object?>(Http2TagValues.ErrorCode, Http2TagValues.Of(errorCode)));
        }
    }

    private void CountGoAway(Http2ErrorCode errorCode, string? debugData, string direction)
    {
        if (metrics.GoAways.Enabled)
        {
            metrics.GoAways.Add(1, new KeyValuePair<string, object?>(Http2TagValues.Direction, direction), new KeyValuePair<string, object?>(Http2TagValues.Reason, ConnectionEndTags.OfGoAway(errorCode, debugData)));
        }
    }
}
