using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.ServeLoop;
using H2Middleware.Tests.ServeLoop;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.Scheduling;

/// <summary>
/// How the engine passes priority signals to its scheduler, over the wire: what SETTINGS announces, which calls the
/// RFC 7540 members receive and in what order, weights that share the wire, and the signals that are errors.
/// </summary>
public class PrioritySignalTests
{
    private static readonly RequestDelegate Ok = context => context.Response.WriteAsync("ok");

    [Theory]
    [InlineData("rfc9218", 1u)]
    [InlineData("round-robin", 1u)]
    [InlineData("random", 1u)]
    [InlineData("rfc7540", 0u)]
    public async Task SettingsSayWhetherRfc7540PrioritiesAreRead(string scheduler, uint expected)
    {
        Func<IWriteScheduler> factory = scheduler switch
        {
            "rfc9218" => WriteSchedulers.Rfc9218,
            "round-robin" => WriteSchedulers.RoundRobin,
            "random" => WriteSchedulers.Random,
            _ => WriteSchedulers.Rfc7540PriorityTree,
        };
        await using var client = Http2TestClient.Start(Ok, o => o.WriteSchedulerFactory = factory);
        await client.SendPrefaceAsync();

        ReceivedFrame settings = await client.ReadFrameAsync();

        Assert.Contains(new Http2Setting(Http2SettingsParameter.NoRfc7540Priorities, expected), settings.Settings);
    }

    [Fact]
    public void TheDefaultSchedulerIsRfc9218()
    {
        IWriteScheduler scheduler = new Http2ServeLoopOptions().WriteSchedulerFactory();

        Assert.IsType<Rfc9218WriteScheduler>(scheduler);
    }

    [Fact]
    public async Task ATreeSchedulerHearsPriorityFramesOpensAndClosesInOrder()
    {
        var scheduler = new RecordingTreeScheduler();
        await using var client = await Http2TestClient.ConnectAsync(Ok, o => o.WriteSchedulerFactory = () => scheduler);

        await client.SendRawAsync(PriorityFrame(streamId: 3, dependsOn: 0, weight: 200, exclusive: false));
        await client.SendRawAsync(HeadersWithPriority(client, streamId: 3, dependsOn: 0, weight: 32, exclusive: true));
        await client.ReadResponseAsync(3);
        await client.SendRawAsync(PriorityFrame(streamId: 3, dependsOn: 0, weight: 1, exclusive: false));
        await PingRoundTripAsync(client);

        Assert.Equal(
            ["priority 3 on 0 w200", "opened 3", "priority 3 on 0 w32 x", "closed 3", "priority 3 on 0 w1"],
            scheduler.Calls.Where(call => !call.StartsWith("queue", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task WithTheTreeAHeavierStreamTakesMostOfTheWire()
    {
        const int bodySize = 10 * 64 * 1024;
        var written = new ConcurrentDictionary<string, TaskCompletionSource>();
        await using var client = Http2TestClient.Start(async context =>
        {
            if (context.Request.Path == "/fill")
            {
                await context.Response.Body.WriteAsync(new byte[Http2Limits.DefaultInitialWindowSize]);
                return;
            }

            var piece = new byte[8_000];
            for (int sent = 0; sent < bodySize; sent += piece.Length)
            {
                await context.Response.Body.WriteAsync(piece.AsMemory(0, Math.Min(piece.Length, bodySize - sent)));
            }

            await context.Response.CompleteAsync();
            written[context.Request.Path.Value!].SetResult();
        }, o =>
        {
            o.WriteSchedulerFactory = WriteSchedulers.Rfc7540PriorityTree;
            o.MaxResponseBufferSizePerStream = 2 * bodySize;
        });
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1 << 24));
        await client.SendGetAsync(1, "/fill");
        await client.ReadResponseAsync(1);

        foreach ((int id, int weight) in new[] { (3, 1), (5, 256) })
        {
            written[$"/s{id}"] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await client.SendRawAsync(HeadersWithPriority(client, id, dependsOn: 0, weight, exclusive: false, path: $"/s{id}"));
            await written[$"/s{id}"].Task.WaitAsync(Http2TestClient.DefaultTimeout);
        }

        await PingRoundTripAsync(client);
        await client.SendWindowUpdateAsync(0, 2 * bodySize);
        var bytes = new Dictionary<int, long> { [3] = 0, [5] = 0 };
        while (bytes[3] + bytes[5] < bodySize)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            if (frame.Type == Http2FrameType.Data)
            {
                bytes[frame.StreamId] += frame.Payload.Length;
            }
        }

        // Round-robin would give each half; weights 256:1 leave the light stream one turn at most.
        Assert.True(bytes[5] >= 0.85 * (bytes[3] + bytes[5]), $"weight 256 got {bytes[5]} bytes, weight 1 got {bytes[3]}");
    }

    [Fact]
    public async Task PriorityUpdateForAPushStreamIsAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Ok);

        await client.SendPriorityUpdateAsync(2, "u=1");

        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task PriorityUpdatesForMoreIdleStreamsThanTheLimitAreAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Ok, o => o.MaxStreamsPerConnection = 3);

        for (int id = 1; id <= 5; id += 2)
        {
            await client.SendPriorityUpdateAsync(id, "u=1");
        }

        // Three idle streams with a priority fill the limit; a fourth goes past it.
        await PingRoundTripAsync(client);
        await client.SendPriorityUpdateAsync(7, "u=1");
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task AnEarlyPriorityOfARejectedStreamDoesNotCountAgainstTheLimit()
    {
        await using var client = await Http2TestClient.ConnectAsync(Ok, o => o.MaxStreamsPerConnection = 2);
        await client.SendPriorityUpdateAsync(1, "u=1");
        await client.SendHeadersAsync(1, [new(":method", "GET"), new(":path", "/")], endStream: true);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);

        await client.SendPriorityUpdateAsync(3, "u=1");
        await client.SendPriorityUpdateAsync(5, "u=1");
        await client.SendGetAsync(3);

        Assert.Equal("ok", (await client.ReadResponseAsync(3)).BodyText);
    }

    [Fact]
    public async Task AnEarlyPriorityOfARefusedStreamDoesNotCountAgainstTheLimit()
    {
        var releaseFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseSecond = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await (context.Request.Path == "/first" ? releaseFirst.Task : releaseSecond.Task);
            await context.Response.WriteAsync("ok");
        }, o => o.MaxStreamsPerConnection = 2);
        await client.SendGetAsync(1, "/first");
        await client.SendPriorityUpdateAsync(5, "u=1");
        await client.SendGetAsync(3, "/second");
        await client.SendGetAsync(5, "/refused");
        await client.ExpectRstStreamAsync(5, Http2ErrorCode.RefusedStream);
        releaseFirst.SetResult();
        Assert.Equal("ok", (await client.ReadResponseAsync(1)).BodyText);

        // Stream 5 was refused, so it is closed, not idle: with stream 3 open, one idle stream with a priority fits.
        await client.SendPriorityUpdateAsync(7, "u=1");
        await PingRoundTripAsync(client);
        releaseSecond.SetResult();
        Assert.Equal("ok", (await client.ReadResponseAsync(3)).BodyText);
    }

    /// <summary>RFC 9218 §7: a PRIORITY_UPDATE carries the whole priority; a parameter it omits takes its default.</summary>
    [Fact]
    public async Task APriorityUpdateReplacesTheWholePriority()
    {
        var scheduler = new RecordingTreeScheduler();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await release.Task;
            await context.Response.WriteAsync("ok");
        }, o => o.WriteSchedulerFactory = () => scheduler);
        await client.SendGetAsync(1, "/", true, ("priority", "u=5, i"));
        await client.SendPriorityUpdateAsync(1, "u=1");
        await PingRoundTripAsync(client);
        release.SetResult();
        await client.ReadResponseAsync(1);

        Assert.Equal([new Http2Priority(1, incremental: false)], scheduler.PriorityChanges);
    }

    [Fact]
    public async Task AnEarlyPriorityOfASkippedStreamIdNoLongerCountsOnceTheIdIsNotIdle()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await release.Task;
            await context.Response.WriteAsync("ok");
        }, o => o.MaxStreamsPerConnection = 2);

        await client.SendPriorityUpdateAsync(3, "u=1");
        await client.SendGetAsync(5);

        // Stream 3 was skipped, so it is closed (RFC 9113 §5.1.1): with stream 5 open, one more idle stream fits.
        await client.SendPriorityUpdateAsync(7, "u=1");
        await PingRoundTripAsync(client);
        release.SetResult();
        Assert.Equal("ok", (await client.ReadResponseAsync(5)).BodyText);
    }

    [Fact]
    public async Task AFloodOfPriorityFramesEndsTheConnection()
    {
        // A fake clock that never moves: the rate limit's burst is all there is.
        await using var client = await Http2TestClient.ConnectAsync(Ok, o => o.TimeProvider = new FakeTimeProvider());
        for (int i = 0; i <= ControlFrameRateLimit.Burst; i++)
        {
            await client.SendRawAsync(PriorityFrame(streamId: 2 * i + 101, dependsOn: 0, weight: 16, exclusive: false));
        }

        ReceivedFrame goAway = await client.ExpectGoAwayAsync(Http2ErrorCode.EnhanceYourCalm);
        Assert.Equal("ControlFrameFlood", goAway.GoAwayDebugData);
    }

    private static async Task PingRoundTripAsync(Http2TestClient client)
    {
        await client.SendPingAsync(42);
        while (await client.ReadFrameAsync() is not { Type: Http2FrameType.Ping, IsAck: true })
        {
        }
    }

    private static byte[] PriorityFrame(int streamId, int dependsOn, int weight, bool exclusive) =>
        StreamStateTests.Frame(Http2FrameType.Priority, Http2FrameFlags.None, streamId, PriorityFields(dependsOn, weight, exclusive));

    private static byte[] HeadersWithPriority(Http2TestClient client, int streamId, int dependsOn, int weight, bool exclusive, string path = "/")
    {
        byte[] block = client.EncodeHeaderBlock(Http2TestClient.RequestHeaders("GET", path));
        return StreamStateTests.Frame(
            Http2FrameType.Headers,
            Http2FrameFlags.EndHeaders | Http2FrameFlags.EndStream | Http2FrameFlags.Priority,
            streamId,
            [.. PriorityFields(dependsOn, weight, exclusive), .. block]);
    }

    private static byte[] PriorityFields(int dependsOn, int weight, bool exclusive) =>
    [
        (byte)((dependsOn >> 24) | (exclusive ? 0x80 : 0)), (byte)(dependsOn >> 16), (byte)(dependsOn >> 8), (byte)dependsOn,
        (byte)(weight - 1),
    ];

    /// <summary>A round-robin scheduler that follows RFC 7540 signals and priority changes only to write them down.</summary>
    private sealed class RecordingTreeScheduler : IWriteScheduler
    {
        private readonly RoundRobinWriteScheduler _inner = new();

        public ConcurrentQueue<string> Calls { get; } = new();

        public bool UsesRfc7540Priorities => true;

        public void OnStreamOpened(IScheduledStream stream) => Calls.Enqueue($"opened {stream.StreamId}");

        public void OnRfc7540Priority(int streamId, int dependsOn, int weight, bool exclusive) =>
            Calls.Enqueue($"priority {streamId} on {dependsOn} w{weight}{(exclusive ? " x" : string.Empty)}");

        public void OnStreamClosed(int streamId) => Calls.Enqueue($"closed {streamId}");

        public ConcurrentQueue<Http2Priority> PriorityChanges { get; } = new();

        public void OnPriorityChanged(IScheduledStream stream) => PriorityChanges.Enqueue(stream.ClientPriority);

        public void Enqueue(IScheduledStream stream)
        {
            Calls.Enqueue($"queue {stream.StreamId}");
            _inner.Enqueue(stream);
        }

        public bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream) => _inner.TryDequeue(out stream);

        public void Remove(IScheduledStream stream) => _inner.Remove(stream);
    }
}
