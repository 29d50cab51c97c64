using H2Middleware.Telemetry;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.Telemetry;

/// <summary>What one connection records, driven directly: the parts no request can pin down exactly.</summary>
public class ConnectionMetricsTests
{
    [Fact]
    public void AStallIsRecordedInSeconds()
    {
        using var meters = new TestMeters();
        using MetricCollector<double> stalls = meters.Collect<double>("h2middleware.server.flow_control.stall");
        var connection = new ConnectionMetrics(meters.Metrics, new FeatureCollection(), TimeProvider.System);

        connection.RecordStall(TimeSpan.FromMilliseconds(250));

        Assert.Equal(0.25, Assert.Single(stalls.GetMeasurementSnapshot()).Value);
    }

    [Fact]
    public void AStreamLastsFromItsOpeningToItsClose()
    {
        using var meters = new TestMeters();
        using MetricCollector<double> duration = meters.Collect<double>("h2middleware.server.stream.duration");
        var time = new FakeTimeProvider();
        var connection = new ConnectionMetrics(meters.Metrics, new FeatureCollection(), time);

        connection.StreamOpened(1);
        time.Advance(TimeSpan.FromMilliseconds(1500));
        connection.StreamClosed(1);

        Assert.Equal(1.5, Assert.Single(duration.GetMeasurementSnapshot()).Value);
    }

    [Fact]
    public void UpDownCountersStayBalancedWhenAListenerArrivesMidConnection()
    {
        using var meters = new TestMeters();
        var connection = new ConnectionMetrics(meters.Metrics, new FeatureCollection(), TimeProvider.System);
        connection.StreamOpened(1);
        connection.StreamQueued();

        using MetricCollector<long> active = meters.Collect<long>("h2middleware.server.active_streams");
        using MetricCollector<long> queued = meters.Collect<long>("h2middleware.server.queued_streams");
        using MetricCollector<double> duration = meters.Collect<double>("h2middleware.server.stream.duration");
        connection.StreamOpened(3);
        connection.StreamQueued();
        connection.StreamClosed(1);
        connection.StreamsLeftQueue(2);
        connection.StreamClosed(3);

        // The listener saw one stream open and one queued: it sees one of each go, not two.
        Assert.Equal([1L, -1L], active.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.Equal([1L, -1L], queued.GetMeasurementSnapshot().Select(m => m.Value));
        // Only the stream opened while the histogram was listened to is timed.
        Assert.Single(duration.GetMeasurementSnapshot());
    }
}
