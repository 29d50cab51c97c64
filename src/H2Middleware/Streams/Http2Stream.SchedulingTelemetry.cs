using H2Middleware.Scheduling;

namespace H2Middleware.Streams;

/// <summary>The stream's scheduling telemetry as the handler reads it: values the serve loop publishes, each read whole.</summary>
internal partial class Http2Stream : IHttp2StreamSchedulingFeature
{
    private long _queuedTicks;
    private long _streamWindowBlockedTicks;
    private long _connectionWindowBlockedTicks;
    private long _bytesSent;

    TimeSpan IHttp2StreamSchedulingFeature.QueuedTime => new(Volatile.Read(ref _queuedTicks));

    TimeSpan IHttp2StreamSchedulingFeature.StreamWindowBlockedTime => new(Volatile.Read(ref _streamWindowBlockedTicks));

    TimeSpan IHttp2StreamSchedulingFeature.ConnectionWindowBlockedTime => new(Volatile.Read(ref _connectionWindowBlockedTicks));

    long IHttp2StreamSchedulingFeature.BytesSent => Volatile.Read(ref _bytesSent);

    /// <summary>Called on the serve loop after each of the stream's turns and when it closes.</summary>
    public void PublishSchedulingTelemetry(TimeSpan queued, TimeSpan streamWindowBlocked, TimeSpan connectionWindowBlocked, long bytesSent)
    {
        Volatile.Write(ref _queuedTicks, queued.Ticks);
        Volatile.Write(ref _streamWindowBlockedTicks, streamWindowBlocked.Ticks);
        Volatile.Write(ref _connectionWindowBlockedTicks, connectionWindowBlocked.Ticks);
        Volatile.Write(ref _bytesSent, bytesSent);
    }

    private void ResetSchedulingTelemetry() => PublishSchedulingTelemetry(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, 0);
}
