using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// What the engine holds of a response is bounded per stream whatever the handler writes, a handler whose stream was
/// reset is never left waiting on a write, and what a stream holds goes back to the pool however its connection ends.
/// </summary>
public class ResponseMemoryTests
{
    private const int StreamCount = 100;
    private const int OneMiB = 1024 * 1024;
    private static readonly byte[] SharedBody = Enumerable.Range(0, OneMiB).Select(i => (byte)i).ToArray();

    /// <summary>The same megabyte as a file, for SendFileAsync; made once per test run.</summary>
    private static readonly Lazy<string> SharedFile = new(() =>
    {
        string path = Path.Combine(Path.GetTempPath(), $"h2middleware-response-memory-{Environment.ProcessId}.bin");
        File.WriteAllBytes(path, SharedBody);
        return path;
    });

    // Synchronous writes block a thread each: fewer streams, so the thread pool is not what the test measures.
    public static TheoryData<string, int> WriteStyles => new()
    {
        { "Body", StreamCount },
        { "BodyWriter", StreamCount },
        { "StartThenBody", StreamCount },
        { "SendFile", StreamCount },
        { "SynchronousBody", 10 },
    };

    private static async Task WriteOnceAsync(HttpContext context, string style)
    {
        switch (style)
        {
            case "Body":
                await context.Response.Body.WriteAsync(SharedBody);
                break;
            case "BodyWriter":
                await context.Response.BodyWriter.WriteAsync(SharedBody);
                break;
            case "StartThenBody":
                await context.Response.StartAsync();
                await context.Response.Body.WriteAsync(SharedBody);
                break;
            case "SendFile":
                await context.Response.SendFileAsync(SharedFile.Value);
                break;
            case "SynchronousBody":
                context.Features.Get<IHttpBodyControlFeature>()!.AllowSynchronousIO = true;
                await Task.Run(() => context.Response.Body.Write(SharedBody, 0, SharedBody.Length));
                break;
        }
    }

    [Theory]
    [MemberData(nameof(WriteStyles))]
    public async Task AZeroWindowClientCannotMakeTheEngineBufferEveryResponse(string style, int streams)
    {
        // 16 MiB for 100 streams (the engine may hold its 64 KiB buffer, a frame and bookkeeping per stream, not a megabyte).
        long bound = streams * 16L * OneMiB / StreamCount;
        var pool = new CountingMemoryPool();
        int completed = 0;
        await using var client = Http2TestClient.Start(
            async context =>
            {
                await WriteOnceAsync(context, style);
                Interlocked.Increment(ref completed);
            },
            // The minimum response data rate would end this deliberate zero-window hold after its grace period.
            o => o.MinResponseDataRate = null,
            memoryPool: pool);
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));
        for (int i = 0; i < streams; i++)
        {
            await client.SendGetAsync(1 + 2 * i);
        }

        var headers = new HashSet<int>();
        while (headers.Count < streams)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            if (frame.Type == Http2FrameType.Headers)
            {
                client.DecodeHeaders(frame);
                headers.Add(frame.StreamId);
            }
        }

        // Every handler has written its megabyte (or waits to); the engine holds at most a bounded part of each.
        await Task.Delay(200);
        Assert.True(pool.PeakBytes <= bound, $"the engine held {pool.PeakBytes:N0} bytes for {streams} blocked responses");

        await client.SendSettingsAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, OneMiB));
        await client.SendWindowUpdateAsync(0, streams * OneMiB);
        var received = new Dictionary<int, long>();
        int ended = 0;
        while (ended < streams)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            if (frame.Type == Http2FrameType.Data)
            {
                received[frame.StreamId] = received.GetValueOrDefault(frame.StreamId) + frame.Payload.Length;
                ended += frame.EndStream ? 1 : 0;
            }
        }

        Assert.All(received.Values, length => Assert.Equal(OneMiB, length));
        Assert.Equal(streams, Volatile.Read(ref completed));
    }

    [Fact]
    public async Task AConnectionServingOneRequestAtATimeKeepsNoBlockBetweenThem()
    {
        var pool = new CountingMemoryPool();
        // A clock that stands still: the connection never counts as idle, so only the recycling can give blocks back.
        var time = new FakeTimeProvider();
        await using var client = Http2TestClient.Start(context => context.Response.WriteAsync("short body"), o => o.TimeProvider = time, memoryPool: pool);
        await client.HandshakeAsync();
        long beforeRequests = pool.OutstandingBytes;

        for (int streamId = 1; streamId <= 5; streamId += 2)
        {
            await client.SendGetAsync(streamId);
            TestResponse response = await client.ReadResponseAsync(streamId);
            Assert.Equal("short body", response.BodyText);
            // The stream is recycled on the loop just after its END_STREAM; a block kept for a next stream would stay rented.
            Assert.True(
                SpinWait.SpinUntil(() => pool.OutstandingBytes <= beforeRequests, TimeSpan.FromSeconds(10)),
                $"the quiet connection still holds {pool.OutstandingBytes - beforeRequests:N0} bytes after stream {streamId}");
        }
    }

    /// <summary>
    /// A connection that ends while a handler still runs keeps its stream in the table until the handler returns; the
    /// request body the handler never read must go back to the pool then, as a recycled stream's does.
    /// </summary>
    [Fact]
    public async Task AConnectionEndingUnderARunningHandlerGivesBackItsUnreadRequestBody()
    {
        var pool = new CountingMemoryPool();
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = Http2TestClient.Start(async context =>
        {
            context.RequestAborted.Register(aborted.SetResult);
            await release.Task;
        }, memoryPool: pool);
        await client.HandshakeAsync();
        long beforeRequest = pool.OutstandingBytes;

        await client.SendPostAsync(1);
        await client.SendDataAsync(1, new byte[16_000], endStream: false);
        await client.SendPingAsync(7);
        await client.ExpectAsync(Http2FrameType.Ping, 0);
        Assert.True(pool.OutstandingBytes > beforeRequest, "the unread body should be buffered in the pool's blocks");

        await client.CloseSendingAsync();
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // With its only stream reset, the loop stops and waits for the handler; return only once it has.
        await Task.Delay(200);
        release.SetResult();
        await client.ServerTask.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(
            SpinWait.SpinUntil(() => pool.OutstandingBytes <= beforeRequest, TimeSpan.FromSeconds(10)),
            $"the ended connection still holds {pool.OutstandingBytes - beforeRequest:N0} bytes");
    }

    public static TheoryData<int> ChunkSizes => [32 * 1024, 1024];

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public async Task CancelledDownloadsReleaseHandlersThatIgnoreRequestAborted(int chunkSize)
    {
        int returned = 0;
        byte[] chunk = new byte[chunkSize];
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            try
            {
                // Writes on regardless of RequestAborted, as much real code does; bounded so a broken engine cannot spin forever.
                for (long written = 0; written < 64 * OneMiB; written += chunk.Length)
                {
                    await context.Response.Body.WriteAsync(chunk);
                }
            }
            finally
            {
                Interlocked.Increment(ref returned);
            }
        });

        await client.SendWindowUpdateAsync(0, StreamCount * OneMiB);
        for (int i = 0; i < StreamCount; i++)
        {
            await client.SendGetAsync(1 + 2 * i);
        }

        // Each stream is mid-download: its window is spent and its handler waits to write more.
        var started = new HashSet<int>();
        while (started.Count < StreamCount)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            if (frame.Type == Http2FrameType.Data)
            {
                started.Add(frame.StreamId);
            }
            else if (frame.Type == Http2FrameType.Headers)
            {
                client.DecodeHeaders(frame);
            }
        }

        for (int i = 0; i < StreamCount; i++)
        {
            await client.SendRstStreamAsync(1 + 2 * i, Http2ErrorCode.Cancel);
        }

        using var deadline = new CancellationTokenSource(Http2TestClient.DefaultTimeout);
        while (Volatile.Read(ref returned) < StreamCount && !deadline.IsCancellationRequested)
        {
            await Task.Delay(20);
        }

        Assert.Equal(StreamCount, Volatile.Read(ref returned));
    }
}
