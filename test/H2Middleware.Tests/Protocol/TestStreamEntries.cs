using System.Buffers;
using System.Threading.Channels;
using H2Middleware.Protocol;
using H2Middleware.ServeLoop;
using H2Middleware.Streams;
using H2Middleware.Telemetry;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace H2Middleware.Tests.Protocol;

/// <summary>Stream entries for unit tests of the loop's parts, with a real handler side behind a port nobody reads.</summary>
internal static class TestStreamEntries
{
    public static ConnectionPort Port(Http2ServeLoopOptions? options = null) => new(
        Channel.CreateUnbounded<ServeLoopMessage>().Writer,
        "test-connection",
        new FeatureCollection(),
        localEndPoint: null,
        remoteEndPoint: null,
        MemoryPool<byte>.Shared,
        options ?? new Http2ServeLoopOptions(),
        application: null!,
        NullLogger.Instance);

    public static StreamEntry Create(ConnectionPort? port = null) => new(new Http2Stream(port ?? Port()));

    public static StreamTable Table(int poolCapacity = 4, int closedStreamMemory = 8)
    {
        ConnectionPort port = Port();
        var metrics = new ConnectionMetrics(Http2Metrics.Create(meterFactory: null), new FeatureCollection(), TimeProvider.System);
        return new StreamTable(() => Create(port), poolCapacity, closedStreamMemory, metrics);
    }
}
