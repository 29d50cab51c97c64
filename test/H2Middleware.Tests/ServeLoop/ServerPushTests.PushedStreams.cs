using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>Pushed streams once promised: the limits on how many, the client's resets, and their place among other streams.</summary>
public partial class ServerPushTests
{
    /// <summary>
    /// The application of the limit tests: <c>/held/…</c> answers once the test releases it, so pushed streams stay open;
    /// <c>/</c> pushes three of them and says how each push went; <c>/one</c> pushes the style sheet.
    /// </summary>
    private static RequestDelegate HeldPushes(Task release) => Site(async context =>
    {
        if (context.Request.Path.StartsWithSegments("/held"))
        {
            await release.WaitAsync(Timeout);
            await context.Response.WriteAsync("held");
            return;
        }

        if (context.Request.Path == "/one")
        {
            await Push(context).PushAsync("/style.css");
            return;
        }

        var outcomes = new List<string>();
        foreach (string path in new[] { "/held/1", "/held/2", "/held/3" })
        {
            Exception? refused = await Record.ExceptionAsync(() => Push(context).PushAsync(path));
            outcomes.Add(refused is null ? "pushed" : refused.GetType().Name + ": " + refused.Message);
        }

        await context.Response.WriteAsync(string.Join('\n', outcomes));
    });

    [Theory]
    [InlineData(2, null, "MaxConcurrentPushes")]
    [InlineData(16, 2u, "SETTINGS_MAX_CONCURRENT_STREAMS")]
    public async Task PushesBeyondTheLimitAreRefusedUntilAPushedStreamCloses(int maxConcurrentPushes, uint? clientMaxConcurrentStreams, string limit)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = Http2TestClient.Start(HeldPushes(release.Task), PushOn(maxConcurrentPushes));
        await client.HandshakeAsync(clientMaxConcurrentStreams is { } max ? [new Http2Setting(Http2SettingsParameter.MaxConcurrentStreams, max)] : []);

        await client.SendGetAsync(1, "/");
        FrameTranscript held = await FrameTranscript.ReadAsync(client, 1);
        release.SetResult();
        await FrameTranscript.ReadAsync(client, 2, 4);
        await client.SendGetAsync(3, "/one");
        FrameTranscript again = await FrameTranscript.ReadAsync(client, 3, 6);

        string[] outcomes = held.Response(1).BodyText.Split('\n');
        Assert.Equal(["pushed", "pushed"], outcomes[..2]);
        Assert.StartsWith(nameof(InvalidOperationException), outcomes[2]);
        Assert.Contains(limit, outcomes[2]);
        Assert.Equal([2, 4], held.PushPromises.Select(p => p.Frame.PromisedStreamId));
        // The two closed: pushes are possible again, on the next even id.
        Assert.Equal(6, Assert.Single(again.PushPromises).Frame.PromisedStreamId);
    }

    [Fact]
    public async Task PushedStreamsDoNotCountAgainstTheClientsStreamLimit()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(HeldPushes(release.Task), options =>
        {
            PushOn()(options);
            options.MaxStreamsPerConnection = 2;
        });

        await client.SendGetAsync(1, "/");
        FrameTranscript held = await FrameTranscript.ReadAsync(client, 1);
        // Three pushed streams are open; the client may still open its two.
        await client.SendGetAsync(3, "/style.css");
        await client.SendGetAsync(5, "/style.css");
        FrameTranscript clientStreams = await FrameTranscript.ReadAsync(client, 3, 5);
        release.SetResult();
        await FrameTranscript.ReadAsync(client, 2, 4, 6);

        Assert.Equal([2, 4, 6], held.PushPromises.Select(p => p.Frame.PromisedStreamId));
        Assert.Equal(StyleSheetBody, clientStreams.Response(3).BodyText);
        Assert.Equal(StyleSheetBody, clientStreams.Response(5).BodyText);
    }

    [Fact]
    public async Task AClientThatCancelsAPushAbortsThePushedHandlerAndHearsNothingMoreOnIt()
    {
        var pushedStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pushedAborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pushedReturned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            if (context.Request.Path == "/slow")
            {
                try
                {
                    pushedStarted.SetResult();
                    await Task.Delay(System.Threading.Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                    pushedAborted.TrySetResult();
                    await Record.ExceptionAsync(() => context.Response.WriteAsync("too late"));
                }
                finally
                {
                    pushedReturned.SetResult();
                }

                return;
            }

            await Push(context).PushAsync("/slow");
            await context.Response.WriteAsync(Page);
        }), PushOn());

        await client.SendGetAsync(1, "/");
        FrameTranscript page = await FrameTranscript.ReadAsync(client, 1);
        await pushedStarted.Task.WaitAsync(Timeout);
        await client.SendRstStreamAsync(2, Http2ErrorCode.Cancel);
        await pushedAborted.Task.WaitAsync(Timeout);
        await pushedReturned.Task.WaitAsync(Timeout);
        // The connection is still fine, and the cancelled push sends nothing more.
        await client.SendGetAsync(3, "/style.css");
        FrameTranscript after = await FrameTranscript.ReadAsync(client, 3);

        Assert.Equal(2, Assert.Single(page.PushPromises).Frame.PromisedStreamId);
        Assert.Empty(page.On(2));
        Assert.Empty(after.On(2));
        Assert.Equal(StyleSheetBody, after.Response(3).BodyText);
    }

    /// <summary>RFC 9113 §5.1: the client sends no DATA on a stream we push; while it is reserved that is a connection error.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DataFromTheClientOnAPushedStreamIsAnError(bool headersSent)
    {
        var respond = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pushedStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            if (context.Request.Path == "/later")
            {
                pushedStarted.SetResult();
                await respond.Task.WaitAsync(Timeout);
                await context.Response.StartAsync();
                await Task.Delay(System.Threading.Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                return;
            }

            await Push(context).PushAsync("/later");
            await context.Response.WriteAsync(Page);
        }), PushOn());

        await client.SendGetAsync(1, "/");
        await FrameTranscript.ReadAsync(client, 1);
        await pushedStarted.Task.WaitAsync(Timeout);
        if (headersSent)
        {
            respond.SetResult();
            await FrameTranscript.ReadAsync(client, entry => entry.Frame.Type == Http2FrameType.Headers && entry.Frame.StreamId == 2);
        }

        await client.SendDataAsync(2, "no", endStream: false);

        if (headersSent)
        {
            await client.ExpectRstStreamAsync(2, Http2ErrorCode.StreamClosed);
        }
        else
        {
            await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
            respond.SetResult();
        }
    }

    [Fact]
    public async Task APushFromAnAbortedRequestIsCancelled()
    {
        var outcome = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            await Task.Delay(System.Threading.Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            outcome.SetResult(await Record.ExceptionAsync(() => Push(context).PushAsync("/style.css")));
        }), PushOn());

        await client.SendGetAsync(1, "/");
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);

        Assert.IsAssignableFrom<OperationCanceledException>(await outcome.Task.WaitAsync(Timeout));
        await client.SendPingAsync(8);
        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.Equal((Http2FrameType.Ping, 0), (next.Type, next.StreamId));
    }

    [Fact]
    public async Task APriorityUpdateMayNameAPromisedStream()
    {
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            await Push(context).PushAsync("/style.css");
            await context.Response.WriteAsync(Page);
        }), PushOn());

        await client.SendGetAsync(1, "/");
        FrameTranscript transcript = await FrameTranscript.ReadAsync(client, 1, 2);
        // Stream 2 was promised (and has closed by now): the update is fine.
        await client.SendPriorityUpdateAsync(2, "u=1");
        await client.SendPingAsync(9);
        await client.ExpectAsync(Http2FrameType.Ping, 0);
        // Stream 4 is an idle push stream (RFC 9218 §7.1).
        await client.SendPriorityUpdateAsync(4, "u=1");

        Assert.Single(transcript.PushPromises);
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }
}
