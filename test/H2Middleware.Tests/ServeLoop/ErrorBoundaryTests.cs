using System.Diagnostics.CodeAnalysis;
using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>A failure in any of the serve loop's work, not only in reading frames, ends the connection with GOAWAY.</summary>
public class ErrorBoundaryTests
{
    /// <summary>A scheduler that fails on the given call, as a buggy custom scheduler would.</summary>
    private sealed class FailingScheduler(bool failOnDequeue, bool failOnPriorityChange) : IWriteScheduler
    {
        private readonly Queue<IScheduledStream> _queue = new();

        public void Enqueue(IScheduledStream stream) => _queue.Enqueue(stream);

        public bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream) =>
            failOnDequeue && _queue.Count > 0 ? throw new InvalidOperationException("scheduler bug") : _queue.TryDequeue(out stream);

        public void Remove(IScheduledStream stream)
        {
        }

        public void OnPriorityChanged(IScheduledStream stream)
        {
            if (failOnPriorityChange)
            {
                throw new InvalidOperationException("scheduler bug");
            }
        }
    }

    [Fact]
    public async Task AFailureDuringAWritePassSendsGoAwayAndAbortsTheHandlers()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                context.RequestAborted.Register(aborted.SetResult);
                await context.Response.WriteAsync("never sent");
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            },
            o => o.WriteSchedulerFactory = () => new FailingScheduler(failOnDequeue: true, failOnPriorityChange: false));

        await client.SendGetAsync(1);

        await client.ExpectGoAwayAsync(Http2ErrorCode.InternalError);
        await aborted.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        await client.ExpectConnectionClosedAsync();
    }

    [Fact]
    public async Task AFailureWhileHandlingAHandlersMessageSendsGoAway()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                context.Features.Get<IHttp2StreamPriorityFeature>()!.HandlerPriority = new Http2Priority(1, false);
                await release.Task;
            },
            o => o.WriteSchedulerFactory = () => new FailingScheduler(failOnDequeue: false, failOnPriorityChange: true));

        await client.SendGetAsync(1);

        ReceivedFrame goAway = await client.ExpectGoAwayAsync(Http2ErrorCode.InternalError);
        Assert.Equal(1, goAway.LastStreamId);
        release.SetResult();
        await client.ExpectConnectionClosedAsync();
    }
}
