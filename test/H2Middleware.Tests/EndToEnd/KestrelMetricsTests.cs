using System.Diagnostics.Metrics;
using H2Middleware.Frames;
using H2Middleware.Tests.Attacks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>Kestrel's own connection metrics, and hosting's request metrics, stay true for the connections the engine serves.</summary>
public class KestrelMetricsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static MetricCollector<double> CollectConnectionDurations(KestrelTestHost host) =>
        new(host.Services.GetRequiredService<IMeterFactory>(), "Microsoft.AspNetCore.Server.Kestrel", "kestrel.connection.duration");

    [Fact]
    public async Task AnH2cConnectionIsHttp2InItsDuration()
    {
        await using var host = await KestrelTestHost.StartAsync(app => app.MapGet("/", (HttpContext context) => KestrelTestHost.ServedByEngine(context) ? "engine" : "kestrel"));
        using MetricCollector<double> durations = CollectConnectionDurations(host);

        using (HttpClient client = host.CreateHttp2Client())
        {
            Assert.Equal("engine", await client.GetStringAsync("/"));
        }

        await durations.WaitForMeasurementsAsync(1, Timeout);
        IReadOnlyDictionary<string, object?> tags = Assert.Single(durations.GetMeasurementSnapshot()).Tags;
        Assert.Equal("http", tags["network.protocol.name"]);
        Assert.Equal("2", tags["network.protocol.version"]);
        Assert.False(tags.ContainsKey("error.type"));
    }

    [Fact]
    public async Task HostingsRequestDurationSaysHttp2()
    {
        await using var host = await KestrelTestHost.StartAsync(app => app.MapGet("/", () => "ok"));
        using var requests = new MetricCollector<double>(host.Services.GetRequiredService<IMeterFactory>(), "Microsoft.AspNetCore.Hosting", "http.server.request.duration");

        using (HttpClient client = host.CreateHttp2Client())
        {
            await client.GetStringAsync("/");
        }

        await requests.WaitForMeasurementsAsync(1, Timeout);
        IReadOnlyDictionary<string, object?> tags = Assert.Single(requests.GetMeasurementSnapshot()).Tags;
        Assert.Equal("2", tags["network.protocol.version"]);
        Assert.Equal(200, tags["http.response.status_code"]);
    }

    [Fact]
    public async Task AConnectionErrorIsItsErrorType()
    {
        await using var host = await KestrelTestHost.StartAsync(app => app.MapGet("/", () => "ok"), configureEngine: o => o.ClientErrorBudget = 0);
        using MetricCollector<double> durations = CollectConnectionDurations(host);

        await using (RawHttp2Socket socket = await RawHttp2Socket.ConnectAsync(host.Port))
        {
            await socket.HandshakeAsync();
            await socket.SendAsync(w => socket.WriteRequest(w, 1, "GET", "/", endStream: true, ("connection", "keep-alive")));
            Assert.True(await socket.WaitForCloseAsync(Timeout));
            Assert.Equal(Http2ErrorCode.EnhanceYourCalm, socket.GoAway?.ErrorCode);
        }

        await durations.WaitForMeasurementsAsync(1, Timeout);
        IReadOnlyDictionary<string, object?> tags = Assert.Single(durations.GetMeasurementSnapshot()).Tags;
        Assert.Equal("2", tags["network.protocol.version"]);
        Assert.Equal("InvalidRequestHeaders", tags["error.type"]);
    }
}
