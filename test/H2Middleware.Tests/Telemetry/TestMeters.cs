using System.Diagnostics.Metrics;
using H2Middleware.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace H2Middleware.Tests.Telemetry;

/// <summary>
/// The engine's instruments on a Meter of a test's own <see cref="IMeterFactory"/>: collectors scoped to it see this
/// test's measurements only, whatever other tests run at the same time.
/// </summary>
internal sealed class TestMeters : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public TestMeters() => Metrics = Http2Metrics.Create(Factory);

    public IMeterFactory Factory => _services.GetRequiredService<IMeterFactory>();

    public Http2Metrics Metrics { get; }

    public MetricCollector<T> Collect<T>(string instrumentName) where T : struct => new(Factory, Http2Metrics.MeterName, instrumentName);

    /// <summary>The sum of the measurements whose tags include every one given.</summary>
    public static long Sum(MetricCollector<long> collector, params (string Name, string Value)[] tags) =>
        collector.GetMeasurementSnapshot()
            .Where(m => tags.All(tag => m.Tags.TryGetValue(tag.Name, out object? value) && Equals(value, tag.Value)))
            .Sum(m => m.Value);

    public void Dispose() => _services.Dispose();
}
