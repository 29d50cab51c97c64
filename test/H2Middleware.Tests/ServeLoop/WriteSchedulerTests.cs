using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.Tests.Scheduling;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

public class WriteSchedulerTests
{
    /// <summary>A FIFO scheduler that records what it was shown.</summary>
    private sealed class RecordingScheduler : IWriteScheduler
    {
        private readonly Queue<IScheduledStream> _queue = new();

        public ConcurrentQueue<string> Seen { get; } = new();

        public void Enqueue(IScheduledStream stream)
        {
            Seen.Enqueue($"{stream.StreamId} {stream.Method} {stream.Path} {stream.Authority} u={stream.EffectivePriority.Urgency} i={stream.EffectivePriority.Incremental}");
            _queue.Enqueue(stream);
        }

        public bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream) => _queue.TryDequeue(out stream);

        public void Remove(IScheduledStream stream)
        {
            var rest = _queue.Where(s => s != stream).ToList();
            _queue.Clear();
            foreach (var s in rest)
            {
                _queue.Enqueue(s);
            }
        }
    }

    [Fact]
    public async Task TheConfiguredSchedulerSeesEachStreamWithItsMetadataAndPriority()
    {
        var scheduler = new RecordingScheduler();
        await using var client = await Http2TestClient.ConnectAsync(
            context => context.Response.WriteAsync("body"),
            o => o.WriteSchedulerFactory = () => scheduler);

        await client.SendGetAsync(1, "/first", true, ("priority", "u=1, i"));
        Assert.Equal("body", (await client.ReadResponseAsync(1)).BodyText);

        Assert.Contains("1 GET /first localhost u=1 i=True", scheduler.Seen);
    }

    [Fact]
    public async Task PriorityUpdateBeforeTheStreamOpensApplies()
    {
        var scheduler = new RecordingScheduler();
        await using var client = await Http2TestClient.ConnectAsync(
            context => context.Response.WriteAsync("body"),
            o => o.WriteSchedulerFactory = () => scheduler);

        await client.SendPriorityUpdateAsync(1, "u=6");
        await client.SendGetAsync(1, "/late");
        await client.ReadResponseAsync(1);

        Assert.Contains("1 GET /late localhost u=6 i=False", scheduler.Seen);
    }

    [Fact]
    public async Task HandlerPriorityOverridesTheClients()
    {
        var scheduler = new RecordingScheduler();
        await using var client = await Http2TestClient.ConnectAsync(
            context =>
            {
                var feature = context.Features.Get<IHttp2StreamPriorityFeature>()!;
                Assert.Equal(5, feature.ClientPriority.Urgency);
                feature.HandlerPriority = new Http2Priority(0, incremental: false);
                return context.Response.WriteAsync("body");
            },
            o => o.WriteSchedulerFactory = () => scheduler);

        await client.SendGetAsync(1, "/mine", true, ("priority", "u=5"));
        await client.ReadResponseAsync(1);

        Assert.Contains("1 GET /mine localhost u=0 i=False", scheduler.Seen);
    }

    [Theory]
    [InlineData("u=0", 0, false)]
    [InlineData("u=7, i", 7, true)]
    [InlineData("i=?0, u=2", 2, false)]
    [InlineData("u=9", 3, false)]
    [InlineData("u=x, i=?1", 3, true)]
    [InlineData("foo=bar, u=4;ext=1", 4, false)]
    [InlineData("", 3, false)]
    public void PriorityFieldValuesParseAsRfc9218Says(string value, int urgency, bool incremental)
    {
        Http2Priority parsed = Http2Priority.Parse(System.Text.Encoding.ASCII.GetBytes(value), Http2Priority.Default);
        Assert.Equal(new Http2Priority(urgency, incremental), parsed);
    }

    [Fact]
    public void RoundRobinServesStreamsInTurn()
    {
        var scheduler = new RoundRobinWriteScheduler();
        var a = new FakeScheduledStream(1);
        var b = new FakeScheduledStream(3);
        scheduler.Enqueue(a);
        scheduler.Enqueue(b);

        Assert.True(scheduler.TryDequeue(out var first));
        scheduler.Enqueue(first);
        Assert.True(scheduler.TryDequeue(out var second));
        Assert.True(scheduler.TryDequeue(out var third));
        scheduler.Remove(b);

        Assert.Same(a, first);
        Assert.Same(b, second);
        Assert.Same(a, third);
        Assert.False(scheduler.TryDequeue(out _));
    }

    /// <summary>Marks each stream it sees; a mark still there when a new stream id arrives survived the object's reuse.</summary>
    private sealed class MarkingScheduler : IWriteScheduler
    {
        private readonly Queue<IScheduledStream> _queue = new();
        private readonly Dictionary<IScheduledStream, int> _lastId = [];

        public ConcurrentQueue<string> Stale { get; } = new();

        public void Enqueue(IScheduledStream stream)
        {
            if (stream.SchedulerState is int markedId && markedId != stream.StreamId)
            {
                Stale.Enqueue($"stream {stream.StreamId} arrived with the state of stream {markedId}");
            }

            stream.SchedulerState = stream.StreamId;
            _queue.Enqueue(stream);
        }

        public bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream) => _queue.TryDequeue(out stream);

        public void Remove(IScheduledStream stream)
        {
        }
    }

    [Fact]
    public async Task SchedulerStateDoesNotSurviveTheReuseOfAStreamObject()
    {
        var scheduler = new MarkingScheduler();
        await using var client = await Http2TestClient.ConnectAsync(context => context.Response.WriteAsync("body"), o => o.WriteSchedulerFactory = () => scheduler);

        for (int id = 1; id < 20; id += 2)
        {
            await client.SendGetAsync(id);
            Assert.Equal("body", (await client.ReadResponseAsync(id)).BodyText);
        }

        Assert.Empty(scheduler.Stale);
    }
}
