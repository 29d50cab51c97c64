using System.Diagnostics.Metrics;

namespace H2Middleware.Telemetry;

/// <summary>
/// The engine's Meter, <see cref="MeterName"/>, and its instruments, named after OpenTelemetry's conventions. One
/// instance serves every connection of a host; what a connection records, and how it keeps that cheap, is
/// <see cref="ConnectionMetrics"/>. Made from the host's <see cref="IMeterFactory"/>, so that the Meter belongs to the
/// host's container (and test collectors can scope to it); the factory hands every endpoint the same Meter, and the
/// Meter the same instruments. Without a factory, a process-wide Meter stands in.
/// </summary>
internal sealed class Http2Metrics
{
    public const string MeterName = "H2Middleware";

    private static readonly Lazy<Http2Metrics> WithoutFactory = new(() => new Http2Metrics(new Meter(MeterName)));

    // Following http.server.request.duration's boundaries: most streams are short requests.
    private static readonly double[] DurationBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private static readonly int[] DepthBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

    private Http2Metrics(Meter meter)
    {
        ActiveStreams = meter.CreateUpDownCounter<long>(
            "h2middleware.server.active_streams", "{stream}", "Number of HTTP/2 streams that are currently open (RFC 9113 §5.1: open or half-closed).");
        Streams = meter.CreateCounter<long>(
            "h2middleware.server.streams", "{stream}", "Number of HTTP/2 streams opened by clients.");
        QueuedStreams = meter.CreateUpDownCounter<long>(
            "h2middleware.server.queued_streams", "{stream}",
            "Number of HTTP/2 requests waiting for a handler slot (MaxStreamsPerConnection handlers run at once per connection); the engine's kestrel.queued_requests.");
        StreamDuration = meter.CreateHistogram(
            "h2middleware.server.stream.duration", "s", "Time from a stream's HEADERS to its close.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBoundaries });
        Resets = meter.CreateCounter<long>(
            "h2middleware.server.resets", "{frame}", "RST_STREAM frames sent and received.");
        GoAways = meter.CreateCounter<long>(
            "h2middleware.server.goaways", "{frame}", "GOAWAY frames sent and received.");
        Frames = meter.CreateCounter<long>(
            "h2middleware.server.frames", "{frame}", "HTTP/2 frames sent and received.");
        Bytes = meter.CreateCounter<long>(
            "h2middleware.server.bytes", "By", "Bytes of HTTP/2 frames (9-byte header and payload) sent and received.");
        ClientErrors = meter.CreateCounter<long>(
            "h2middleware.server.client_errors", "{error}", "Client errors that cost work without progress, each drawn from the connection's error budget.");
        WriteSchedulerQueueDepth = meter.CreateHistogram<int>(
            "h2middleware.server.write_scheduler.queue_depth", "{stream}", "Streams waiting in the write scheduler when a write pass starts giving them turns.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = DepthBoundaries });
        FlowControlStall = meter.CreateHistogram(
            "h2middleware.server.flow_control.stall", "s", "Time a stream's response had data to send but no flow-control window (its own or the connection's).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBoundaries });
    }

    public UpDownCounter<long> ActiveStreams { get; }

    public Counter<long> Streams { get; }

    public UpDownCounter<long> QueuedStreams { get; }

    public Histogram<double> StreamDuration { get; }

    public Counter<long> Resets { get; }

    public Counter<long> GoAways { get; }

    public Counter<long> Frames { get; }

    public Counter<long> Bytes { get; }

    public Counter<long> ClientErrors { get; }

    public Histogram<int> WriteSchedulerQueueDepth { get; }

    public Histogram<double> FlowControlStall { get; }

    /// <summary>The instruments on the factory's <see cref="MeterName"/> Meter; without a factory, on the process-wide one.</summary>
    public static Http2Metrics Create(IMeterFactory? meterFactory) =>
        meterFactory is null ? WithoutFactory.Value : new Http2Metrics(meterFactory.Create(MeterName));
}
