using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.Scheduling;

/// <summary>
/// A user's own scheduler is a first-class use of the seam: the one in docs/SCHEDULING.md, which serves responses under
/// <c>/api/</c> before any other, decides the order on the wire.
/// </summary>
public class CustomSchedulerTests
{
    /// <summary>Responses whose path starts with a prefix go first; each group is served round-robin.</summary>
    private sealed class PathPrefixFirstScheduler(string prefix) : IWriteScheduler
    {
        private readonly RoundRobinWriteScheduler _favoured = new();
        private readonly RoundRobinWriteScheduler _others = new();

        public void Enqueue(IScheduledStream stream) => GroupOf(stream).Enqueue(stream);

        public bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream) =>
            _favoured.TryDequeue(out stream) || _others.TryDequeue(out stream);

        public void Remove(IScheduledStream stream) => GroupOf(stream).Remove(stream);

        private RoundRobinWriteScheduler GroupOf(IScheduledStream stream) =>
            stream.Path.StartsWith(prefix, StringComparison.Ordinal) ? _favoured : _others;
    }

    private const int BodySize = 200_000;

    [Fact]
    public async Task ResponsesUnderTheFavouredPrefixGoFirst()
    {
        var written = new ConcurrentDictionary<string, TaskCompletionSource>();
        await using var client = Http2TestClient.Start(async context =>
        {
            if (context.Request.Path == "/fill")
            {
                await context.Response.Body.WriteAsync(new byte[Http2Limits.DefaultInitialWindowSize]);
                return;
            }

            var piece = new byte[10_000];
            for (int sent = 0; sent < BodySize; sent += piece.Length)
            {
                await context.Response.Body.WriteAsync(piece);
            }

            await context.Response.CompleteAsync();
            written[context.Request.Path.Value!].SetResult();
        }, o =>
        {
            o.WriteSchedulerFactory = () => new PathPrefixFirstScheduler("/api/");
            o.MaxResponseBufferSizePerStream = 2 * BodySize;
        });
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1 << 20));
        await client.SendGetAsync(1, "/fill");
        await client.ReadResponseAsync(1);

        foreach ((int id, string path) in new[] { (3, "/static/big.js"), (5, "/api/orders") })
        {
            written[path] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await client.SendGetAsync(id, path);
            await written[path].Task.WaitAsync(Http2TestClient.DefaultTimeout);
        }

        await client.SendPingAsync(1);
        while (await client.ReadFrameAsync() is not { Type: Http2FrameType.Ping, IsAck: true })
        {
        }

        await client.SendWindowUpdateAsync(0, 2 * BodySize);
        var order = new List<int>();
        var ended = new HashSet<int>();
        while (ended.Count < 2)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            if (frame.Type == Http2FrameType.Data && (order.Count == 0 || order[^1] != frame.StreamId))
            {
                order.Add(frame.StreamId);
            }

            if (frame.EndStream)
            {
                ended.Add(frame.StreamId);
            }
        }

        Assert.Equal([5, 3], order);
    }
}
