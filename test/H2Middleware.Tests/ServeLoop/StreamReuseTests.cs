using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// A pooled stream object serves a new stream only once nothing of its previous use can still act on it, and a
/// connection idle for a second lets its pooled streams go.
/// </summary>
public class StreamReuseTests
{
    [Fact]
    public async Task BodilessAndBodiedRequestsAlternateOnPooledStreams()
    {
        // A request that ends with its headers never touches the request pipe: the next use of the same pooled stream
        // must still get a working pipe, and the bodiless one must still read as an empty, complete body.
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            string body = await new StreamReader(context.Request.Body).ReadToEndAsync();
            System.IO.Pipelines.ReadResult end = await context.Request.BodyReader.ReadAsync();
            context.Request.BodyReader.AdvanceTo(end.Buffer.End);
            await context.Response.WriteAsync($"{context.Request.Method} '{body}' completed={end.IsCompleted} left={end.Buffer.Length}");
        });

        for (int i = 0; i < 6; i++)
        {
            int streamId = (2 * i) + 1;
            if (i % 2 == 0)
            {
                await client.SendGetAsync(streamId);
                Assert.Equal("GET '' completed=True left=0", (await client.ReadResponseAsync(streamId)).BodyText);
            }
            else
            {
                await client.SendPostAsync(streamId);
                await client.SendDataAsync(streamId, $"body{i}", endStream: true);
                Assert.Equal($"POST 'body{i}' completed=True left=0", (await client.ReadResponseAsync(streamId)).BodyText);
            }
        }
    }

    [Fact]
    public async Task ACanceledReadOfAnAbsentBodyReportsTheCancellationOnce()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Request.BodyReader.CancelPendingRead();
            System.IO.Pipelines.ReadResult canceled = await context.Request.BodyReader.ReadAsync();
            System.IO.Pipelines.ReadResult next = await context.Request.BodyReader.ReadAsync();
            await context.Response.WriteAsync($"{canceled.IsCanceled} {next.IsCanceled} {next.IsCompleted}");
        });

        await client.SendGetAsync(1);
        Assert.Equal("True False True", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task ALateRequestAbortedCallbackCannotResetTheNextStream()
    {
        var firstStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstRelease = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var callbackEntered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var callbackDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var callbackGate = new ManualResetEventSlim();
        var secondStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            if (context.Request.Path == "/first")
            {
                context.RequestAborted.Register(() =>
                {
                    callbackEntered.SetResult();
                    callbackGate.Wait(Http2TestClient.DefaultTimeout);
                    // Application code that aborts from its RequestAborted callback, after the handler already returned.
                    context.Abort();
                    callbackDone.SetResult();
                });
                await context.Response.StartAsync();
                firstStarted.SetResult();
                await firstRelease.Task;
                return;
            }

            secondStarted.SetResult();
            await callbackDone.Task;
            await context.Response.WriteAsync("second");
        });

        await client.SendGetAsync(1, "/first");
        client.DecodeHeaders(await client.ExpectAsync(Http2FrameType.Headers, 1));
        await firstStarted.Task;
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);
        await callbackEntered.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        firstRelease.SetResult();
        await Task.Delay(100);
        await client.SendPingAsync(1);
        await client.ExpectAsync(Http2FrameType.Ping, 0);

        await client.SendGetAsync(3, "/second");
        await secondStarted.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        callbackGate.Set();

        TestResponse response = await client.ReadResponseAsync(3);
        Assert.Equal("200", response.Status);
        Assert.Equal("second", response.BodyText);
    }

    [Fact]
    public async Task RequestAbortedDoesNotFireAfterTheHandlerReturned()
    {
        var fired = false;
        var returned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = Http2TestClient.Start(async context =>
        {
            context.RequestAborted.Register(() => fired = true);
            context.Response.ContentLength = 100_000;
            await context.Response.StartAsync();
            // The body waits for window; the handler returns without waiting for it to go out.
            _ = context.Response.Body.WriteAsync(new byte[100_000]);
            returned.SetResult();
        });
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));
        await client.SendGetAsync(1);
        client.DecodeHeaders(await client.ExpectAsync(Http2FrameType.Headers, 1));
        await returned.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        await Task.Delay(100);

        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);
        await client.SendPingAsync(2);
        await client.ExpectAsync(Http2FrameType.Ping, 0);
        await Task.Delay(100);

        Assert.False(fired);
    }

    [Fact]
    public async Task AConnectionKeepsItsPooledStreamWhileBusyAndLetsItGoAfterASecondOfIdleness()
    {
        var time = new FakeTimeProvider();
        var features = new List<WeakReference<IFeatureCollection>>();
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                lock (features)
                {
                    features.Add(new WeakReference<IFeatureCollection>(context.Features));
                }

                await context.Response.WriteAsync("ok");
            },
            o => o.TimeProvider = time);

        async Task GetAsync(int streamId)
        {
            TestResponse response = await client.ReadResponseAsync(await SendAsync(streamId));
            Assert.Equal("ok", response.BodyText);
            await PingRoundTripAsync();
        }

        async Task<int> SendAsync(int streamId)
        {
            await client.SendGetAsync(streamId);
            return streamId;
        }

        async Task PingRoundTripAsync()
        {
            await client.SendPingAsync(7);
            while (await client.ReadFrameAsync() is not { Type: Http2FrameType.Ping, IsAck: true })
            {
            }
        }

        async Task AdvanceAsync(double seconds)
        {
            time.Advance(TimeSpan.FromSeconds(seconds));
            await PingRoundTripAsync();
        }

        IFeatureCollection? Served(int index)
        {
            lock (features)
            {
                return features[index].TryGetTarget(out IFeatureCollection? target) ? target : null;
            }
        }

        // Requests half a second apart: the tick at one second finds the connection idle for half a second only, so each
        // request reuses the first stream object.
        await GetAsync(1);
        await AdvanceAsync(0.5);
        await GetAsync(3);
        await AdvanceAsync(0.5);
        await GetAsync(5);
        Assert.Same(Served(0), Served(1));
        Assert.Same(Served(0), Served(2));

        // The next tick, a second later, finds it idle for that second: the pooled stream goes, and nothing else holds it.
        await AdvanceAsync(0.5);
        await AdvanceAsync(0.5);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.Null(Served(0));

        await GetAsync(7);
        await GetAsync(9);
        Assert.NotNull(Served(3));
        Assert.Same(Served(3), Served(4));
    }
}
