using System.Diagnostics.CodeAnalysis;
using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>A response the handler fails or resets never reaches the client as complete (no END_STREAM).</summary>
public class HandlerResetTests
{
    // Each round races the handler's reset against a write pass that already has the stream's data in hand.
    private const int Rounds = 100;

    [Fact]
    public async Task AContentLengthShortfallIsAResetNeverAnEndStream()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.ContentLength = 10;
            await context.Response.Body.WriteAsync("12345"u8.ToArray());
            await context.Response.Body.FlushAsync();
        });
        await client.SendWindowUpdateAsync(0, 1 << 20);

        for (int round = 0, id = 1; round < Rounds; round++, id += 2)
        {
            await client.SendGetAsync(id);
            await ExpectResetWithoutEndStreamAsync(client, id, Http2ErrorCode.InternalError);
        }
    }

    [Fact]
    public async Task AResetThroughTheResetFeatureBeforeReturningIsNeverAnEndStream()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await context.Response.WriteAsync("partial");
            context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResetFeature>()!.Reset((int)Http2ErrorCode.Cancel);
        });
        await client.SendWindowUpdateAsync(0, 1 << 20);

        for (int round = 0, id = 1; round < Rounds; round++, id += 2)
        {
            await client.SendGetAsync(id);
            await ExpectResetWithoutEndStreamAsync(client, id, Http2ErrorCode.Cancel);
        }
    }

    /// <summary>
    /// A response the handler completed whole before it reset the stream or aborted the request (gRPC does past a
    /// deadline, its status in the trailers) goes out whole, as under Kestrel; the reset follows its END_STREAM while the
    /// request is still open, and is not needed once both sides have ended.
    /// </summary>
    [Theory]
    [InlineData("reset", true)]
    [InlineData("reset", false)]
    [InlineData("abort", true)]
    [InlineData("abort", false)]
    public async Task AResponseCompletedBeforeTheResetGoesOutWholeFirst(string ending, bool requestOpen)
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.DeclareTrailer("grpc-status");
            await context.Response.WriteAsync("done");
            context.Response.AppendTrailer("grpc-status", "4");
            await context.Response.CompleteAsync();
            if (ending == "reset")
            {
                context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResetFeature>()!.Reset((int)Http2ErrorCode.Cancel);
            }
            else
            {
                context.Abort();
            }
        });
        await client.SendWindowUpdateAsync(0, 1 << 20);

        for (int round = 0, id = 1; round < 20; round++, id += 2)
        {
            await client.SendGetAsync(id, endStream: !requestOpen);
            TestResponse response = await client.ReadResponseAsync(id);
            Assert.Equal("done", response.BodyText);
            Assert.Contains(new KeyValuePair<string, string>("grpc-status", "4"), response.Trailers!);

            if (requestOpen)
            {
                ReceivedFrame reset = await client.ReadFrameAsync();
                Assert.True(reset.Type == Http2FrameType.RstStream && reset.StreamId == id, $"round {round}: expected the reset after the response, got {reset}");
                Assert.Equal(ending == "reset" ? Http2ErrorCode.Cancel : Http2ErrorCode.InternalError, reset.ErrorCode);
            }
            else
            {
                await client.SendPingAsync(7);
                ReceivedFrame next;
                while ((next = await client.ReadFrameAsync()).Type != Http2FrameType.Ping)
                {
                    Assert.False(next.StreamId == id, $"round {round}: the closed stream got {next}");
                }
            }
        }
    }

    /// <summary>
    /// A scheduler that, when it hands out a stream for the first time, lets the handler fail its response and waits
    /// for that before the turn goes on: the reset then races nothing, it is simply late, as it can be in production.
    /// </summary>
    private sealed class InterleavingScheduler(Action onFirstTurn) : IWriteScheduler
    {
        private readonly Queue<IScheduledStream> _queue = new();
        private bool _interleaved;

        public void Enqueue(IScheduledStream stream) => _queue.Enqueue(stream);

        public bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream)
        {
            if (!_queue.TryDequeue(out stream))
            {
                return false;
            }

            if (!_interleaved)
            {
                _interleaved = true;
                onFirstTurn();
            }

            return true;
        }

        public void Remove(IScheduledStream stream)
        {
        }
    }

    [Fact]
    public async Task AResetPublishedDuringTheStreamsTurnWinsOverItsCompletedBody()
    {
        var turnStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var responseFailed = new ManualResetEventSlim();
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                context.Response.ContentLength = 10;
                await context.Response.Body.WriteAsync("12345"u8.ToArray());
                await context.Response.Body.FlushAsync();
                await turnStarted.Task;
                // Completing short of the declared length fails the response: a reset, then the pipe completes.
                await context.Response.CompleteAsync();
                responseFailed.Set();
            },
            o => o.WriteSchedulerFactory = () => new InterleavingScheduler(() =>
            {
                turnStarted.SetResult();
                responseFailed.Wait(Http2TestClient.DefaultTimeout);
            }));

        await client.SendGetAsync(1);

        await ExpectResetWithoutEndStreamAsync(client, 1, Http2ErrorCode.InternalError);
    }

    private static async Task ExpectResetWithoutEndStreamAsync(Http2TestClient client, int streamId, Http2ErrorCode errorCode)
    {
        while (true)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            if (frame.StreamId != streamId)
            {
                continue;
            }

            Assert.False(frame.EndStream, $"stream {streamId} ended with END_STREAM on {frame} although its handler failed it");
            if (frame.Type == Http2FrameType.RstStream)
            {
                Assert.Equal(errorCode, frame.ErrorCode);
                return;
            }
        }
    }
}
