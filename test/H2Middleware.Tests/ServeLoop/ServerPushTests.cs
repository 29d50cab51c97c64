using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// Server push (RFC 9113 §8.4, §6.6) behind the real serve loop: the promise and where it goes on the wire, the pushed
/// request run by the application's own route, and every rule that refuses a push, on the handler's side or the loop's.
/// </summary>
public partial class ServerPushTests
{
    private const string StyleSheetBody = "body{color:red}";
    private const string Page = "<link rel=stylesheet href=/style.css>";

    private static readonly TimeSpan Timeout = Http2TestClient.DefaultTimeout;

    /// <summary>The application: <c>/style.css</c> is a route of its own, which says what request it saw; other paths run the page.</summary>
    private static RequestDelegate Site(Func<HttpContext, Task> page) => context =>
        context.Request.Path == "/style.css" ? StyleSheet(context) : page(context);

    private static Task StyleSheet(HttpContext context)
    {
        HttpRequest request = context.Request;
        context.Response.ContentType = "text/css";
        context.Response.Headers["x-seen"] = string.Join(' ', request.Method, request.Scheme, request.Host.Value, request.Path.Value,
            request.Headers["x-pushed-by"].ToString(), context.Features.Get<IHttp2StreamIdFeature>()!.StreamId, Push(context).IsPushSupported);
        return context.Response.WriteAsync(StyleSheetBody);
    }

    private static IHttp2ServerPushFeature Push(HttpContext context) => context.Features.Get<IHttp2ServerPushFeature>()!;

    private static Action<Http2ServeLoopOptions> PushOn(int maxConcurrentPushes = 16) => options =>
    {
        options.EnableServerPush = true;
        options.MaxConcurrentPushes = maxConcurrentPushes;
    };

    [Fact]
    public async Task ThePromiseGoesOutBeforeTheParentsDataAndTheApplicationAnswersThePushedRequest()
    {
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            await Push(context).PushAsync("/style.css", headers: new HeaderDictionary { ["x-pushed-by"] = "page" });
            await context.Response.WriteAsync(Page);
        }), PushOn());

        await client.SendGetAsync(1, "/");
        FrameTranscript transcript = await FrameTranscript.ReadAsync(client, 1, 2);

        TranscriptEntry promise = Assert.Single(transcript.PushPromises);
        Assert.Equal((1, 2), (promise.Frame.StreamId, promise.Frame.PromisedStreamId));
        Assert.Equal(
            [new(":method", "GET"), new(":scheme", "https"), new(":authority", "localhost"), new(":path", "/style.css"), new("x-pushed-by", "page")],
            promise.Fields!);
        int promisedAt = transcript.Entries.IndexOf(promise);
        Assert.True(promisedAt < transcript.IndexOf(f => f.StreamId == 1 && f.Type == Http2FrameType.Data), "the parent's DATA came before the PUSH_PROMISE");
        Assert.True(promisedAt < transcript.IndexOf(f => f.StreamId == 2), "the pushed stream's frames came before its PUSH_PROMISE");
        // Reserved (local), the stream may carry only HEADERS (RFC 9113 §5.1).
        Assert.Equal(Http2FrameType.Headers, transcript.On(2).First().Frame.Type);
        Assert.Equal(Page, transcript.Response(1).BodyText);
        TestResponse pushed = transcript.Response(2);
        Assert.Equal("200", pushed.Status);
        Assert.Equal("text/css", pushed.Header("content-type"));
        // A pushed request cannot push in turn (RFC 9113 §6.6: PUSH_PROMISE only on a client's stream).
        Assert.Equal("GET https localhost /style.css page 2 False", pushed.Header("x-seen"));
        Assert.Equal(StyleSheetBody, pushed.BodyText);
    }

    [Theory]
    [InlineData("RoundRobin")]
    [InlineData("Random")]
    [InlineData("Rfc7540PriorityTree")]
    public async Task EverySchedulerSchedulesAPushedStreamLikeAnyOther(string scheduler)
    {
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            await Push(context).PushAsync("/style.css");
            await context.Response.WriteAsync(Page);
        }), options =>
        {
            PushOn()(options);
            options.WriteSchedulerFactory = Hosting.Http2ServeLoopOptionsConfiguration.Schedulers[scheduler];
        });

        await client.SendGetAsync(1, "/");
        FrameTranscript transcript = await FrameTranscript.ReadAsync(client, 1, 2);

        Assert.Equal(Page, transcript.Response(1).BodyText);
        Assert.Equal(StyleSheetBody, transcript.Response(2).BodyText);
    }

    [Fact]
    public async Task APushedHeadGetsTheHeadersWithoutTheBody()
    {
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            await Push(context).PushAsync("/style.css", "HEAD");
            await context.Response.WriteAsync(Page);
        }), PushOn());

        await client.SendGetAsync(1, "/");
        FrameTranscript transcript = await FrameTranscript.ReadAsync(client, 1, 2);

        Assert.Contains(new(":method", "HEAD"), Assert.Single(transcript.PushPromises).Fields!);
        TestResponse pushed = transcript.Response(2);
        Assert.StartsWith("HEAD https localhost /style.css", pushed.Header("x-seen"));
        Assert.Empty(pushed.Body);
    }

    [Fact]
    public async Task APromiseLargerThanTheClientsFrameSizeContinuesInContinuationFramesAndHpackStaysInStep()
    {
        string large = new('v', 40_000);
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            await Push(context).PushAsync("/style.css", headers: new HeaderDictionary { ["x-large"] = large, ["x-pushed-by"] = "page" });
            await Push(context).PushAsync("/style.css", headers: new HeaderDictionary { ["x-pushed-by"] = "again" });
            await context.Response.WriteAsync(Page);
        }), PushOn());

        await client.SendGetAsync(1, "/");
        FrameTranscript transcript = await FrameTranscript.ReadAsync(client, 1, 2, 4);

        TranscriptEntry[] promises = transcript.PushPromises.ToArray();
        Assert.Equal([2, 4], promises.Select(p => p.Frame.PromisedStreamId));
        Assert.False(promises[0].Frame.EndHeaders);
        Assert.Contains(new("x-large", large), promises[0].Fields!);
        Assert.Contains(new("x-pushed-by", "again"), promises[1].Fields!);
        Assert.EndsWith("again 4 False", transcript.Response(4).Header("x-seen"));
        Assert.Equal(Page, transcript.Response(1).BodyText);
    }

    [Fact]
    public async Task APushedResponseLargerThanTheWindowWaitsForTheClientsWindowUpdates()
    {
        byte[] large = new byte[100_000];
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            if (context.Request.Path == "/large")
            {
                await context.Response.Body.WriteAsync(large);
                return;
            }

            await Push(context).PushAsync("/large");
            await context.Response.WriteAsync("page");
        }), PushOn());

        await client.SendGetAsync(1, "/");
        int received = 0;
        FrameTranscript first = await FrameTranscript.ReadAsync(client, entry =>
            (received += entry.Frame.Type == Http2FrameType.Data ? entry.Frame.Payload.Length : 0) == Http2Limits.DefaultInitialWindowSize);
        await client.SendWindowUpdateAsync(0, large.Length);
        await client.SendWindowUpdateAsync(2, large.Length);
        FrameTranscript rest = await FrameTranscript.ReadAsync(client, 2);

        int pushedBytes = first.On(2).Concat(rest.On(2)).Where(e => e.Frame.Type == Http2FrameType.Data).Sum(e => e.Frame.Payload.Length);
        Assert.Equal(large.Length, pushedBytes);
    }

    [Fact]
    public async Task AClientThatTurnedPushOffNeverSeesAPromise()
    {
        bool? supported = null;
        Exception? refused = null;
        await using var client = Http2TestClient.Start(Site(async context =>
        {
            supported = Push(context).IsPushSupported;
            refused = await Record.ExceptionAsync(() => Push(context).PushAsync("/style.css"));
            await context.Response.WriteAsync(Page);
        }), PushOn());
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.EnablePush, 0));

        await client.SendGetAsync(1, "/");
        FrameTranscript transcript = await FrameTranscript.ReadAsync(client, 1);

        Assert.Empty(transcript.PushPromises);
        Assert.False(supported);
        Assert.Contains("SETTINGS_ENABLE_PUSH = 0", Assert.IsType<NotSupportedException>(refused).Message);
    }

    [Fact]
    public async Task AClientMayTurnPushOffLater()
    {
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            Exception? refused = await Record.ExceptionAsync(() => Push(context).PushAsync("/style.css"));
            await context.Response.WriteAsync(refused?.GetType().Name ?? "pushed");
        }), PushOn());

        await client.SendGetAsync(1, "/");
        FrameTranscript before = await FrameTranscript.ReadAsync(client, 1, 2);
        await client.SendSettingsAsync(new Http2Setting(Http2SettingsParameter.EnablePush, 0));
        await client.ExpectAsync(Http2FrameType.Settings, 0);
        await client.SendGetAsync(3, "/");
        FrameTranscript after = await FrameTranscript.ReadAsync(client, 3);

        Assert.Equal("pushed", before.Response(1).BodyText);
        Assert.Single(before.PushPromises);
        Assert.Equal(nameof(NotSupportedException), after.Response(3).BodyText);
        Assert.Empty(after.PushPromises);
    }

    [Fact]
    public async Task WithTheOptionOffNoPushIsPossible()
    {
        bool? supported = null;
        Exception? refused = null;
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            supported = Push(context).IsPushSupported;
            refused = await Record.ExceptionAsync(() => Push(context).PushAsync("/style.css"));
            await context.Response.WriteAsync(Page);
        }));

        await client.SendGetAsync(1, "/");
        FrameTranscript transcript = await FrameTranscript.ReadAsync(client, 1);

        Assert.Empty(transcript.PushPromises);
        Assert.False(supported);
        Assert.Contains(nameof(Http2ServeLoopOptions.EnableServerPush), Assert.IsType<NotSupportedException>(refused).Message);
    }

    [Fact]
    public async Task NoPushAfterTheClientsGoAway()
    {
        var goAwaySeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool? supported = null;
        Exception? refused = null;
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            await goAwaySeen.Task.WaitAsync(Timeout);
            supported = Push(context).IsPushSupported;
            refused = await Record.ExceptionAsync(() => Push(context).PushAsync("/style.css"));
            await context.Response.WriteAsync(Page);
        }), PushOn());

        await client.SendGetAsync(1, "/");
        await client.SendGoAwayAsync(0, Http2ErrorCode.NoError);
        await client.ExpectGoAwayAsync(Http2ErrorCode.NoError);
        goAwaySeen.SetResult();
        FrameTranscript transcript = await FrameTranscript.ReadAsync(client, 1);

        Assert.Empty(transcript.PushPromises);
        Assert.Equal(Page, transcript.Response(1).BodyText);
        Assert.False(supported);
        Assert.Contains("GOAWAY", Assert.IsType<NotSupportedException>(refused).Message);
    }

    [Theory]
    [InlineData("POST", "/style.css", null, "GET or HEAD")]
    [InlineData("get", "/style.css", null, "GET or HEAD")]
    [InlineData("GET", "style.css", null, "absolute path")]
    [InlineData("GET", "//elsewhere.example/style.css", null, "absolute path")]
    [InlineData("GET", "https://localhost/style.css", null, "absolute path")]
    [InlineData("GET", "/style.css#top", null, "absolute path")]
    [InlineData("GET", "/style.css", ":path", "pseudo-header")]
    [InlineData("GET", "/style.css", ":authority", "pseudo-header")]
    [InlineData("GET", "/style.css", "connection", "cannot carry")]
    [InlineData("GET", "/style.css", "transfer-encoding", "cannot carry")]
    [InlineData("GET", "/style.css", "host", "cannot carry")]
    [InlineData("GET", "/style.css", "content-length", "cannot carry")]
    public async Task APushTheRulesForbidIsRefusedByTheHandlersCall(string method, string path, string? field, string message)
    {
        Exception? refused = null;
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            HeaderDictionary? headers = field is null ? null : new HeaderDictionary { [field] = "1" };
            refused = await Record.ExceptionAsync(() => Push(context).PushAsync(path, method, headers));
            await context.Response.WriteAsync(Page);
        }), PushOn());

        await client.SendGetAsync(1, "/");
        FrameTranscript transcript = await FrameTranscript.ReadAsync(client, 1);

        Assert.Empty(transcript.PushPromises);
        Assert.Contains(message, Assert.IsAssignableFrom<ArgumentException>(refused).Message);
    }

    [Fact]
    public async Task APushAfterTheResponseCompletedIsRefused()
    {
        var refused = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(Site(async context =>
        {
            await context.Response.WriteAsync(Page);
            await context.Response.CompleteAsync();
            refused.SetResult(await Record.ExceptionAsync(() => Push(context).PushAsync("/style.css")));
        }), PushOn());

        await client.SendGetAsync(1, "/");
        FrameTranscript transcript = await FrameTranscript.ReadAsync(client, 1);

        Assert.Empty(transcript.PushPromises);
        Assert.IsType<InvalidOperationException>(await refused.Task.WaitAsync(Timeout));
    }
}
