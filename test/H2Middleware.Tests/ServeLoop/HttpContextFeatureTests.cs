using System.Buffers;
using System.Net;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>The ASP.NET Core features a stream offers its handler.</summary>
public class HttpContextFeatureTests
{
    [Fact]
    public async Task OnStartingRunsLastRegisteredFirstBeforeHeadersAndOnCompletedAfter()
    {
        var order = new List<string>();
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.OnStarting(() => { order.Add("starting 1"); return Task.CompletedTask; });
            context.Response.OnStarting(() =>
            {
                order.Add("starting 2");
                context.Response.Headers["x-set-on-starting"] = "yes";
                return Task.CompletedTask;
            });
            context.Response.OnCompleted(() =>
            {
                order.Add("completed");
                completed.SetResult();
                return Task.CompletedTask;
            });
            await context.Response.WriteAsync("x");
        });

        await client.SendGetAsync(1);
        TestResponse response = await client.ReadResponseAsync(1);
        await completed.Task.WaitAsync(Http2TestClient.DefaultTimeout);

        Assert.Equal("yes", response.Header("x-set-on-starting"));
        Assert.Equal(["starting 2", "starting 1", "completed"], order);
    }

    [Fact]
    public async Task CompleteAsyncEndsTheResponseBeforeTheHandlerReturns()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await context.Response.WriteAsync("early");
            await context.Response.CompleteAsync();
            await release.Task;
        });

        await client.SendGetAsync(1);
        Assert.Equal("early", (await client.ReadResponseAsync(1)).BodyText);
        release.SetResult();
    }

    [Fact]
    public async Task StartAsyncSendsHeadersWithoutABody()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.StatusCode = 202;
            await context.Response.StartAsync();
            await release.Task;
        });

        await client.SendGetAsync(1);
        ReceivedFrame headers = await client.ExpectAsync(Http2FrameType.Headers, 1);
        Assert.False(headers.EndStream);
        Assert.Contains(new KeyValuePair<string, string>(":status", "202"), client.DecodeHeaders(headers));
        release.SetResult();
        Assert.True((await client.ExpectAsync(Http2FrameType.Data, 1)).EndStream);
    }

    [Fact]
    public async Task SendFileAsyncSendsTheFileRange()
    {
        string file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, "0123456789");
        try
        {
            await using var client = await Http2TestClient.ConnectAsync(context => context.Response.SendFileAsync(file, 2, 5));
            await client.SendGetAsync(1);
            Assert.Equal("23456", (await client.ReadResponseAsync(1)).BodyText);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task BodyDetectionReflectsEndStreamOnHeaders()
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
            context.Response.WriteAsync(context.Features.Get<IHttpRequestBodyDetectionFeature>()!.CanHaveBody.ToString()));

        await client.SendGetAsync(1);
        Assert.Equal("False", (await client.ReadResponseAsync(1)).BodyText);
        await client.SendPostAsync(3);
        await client.SendDataAsync(3, "", endStream: true);
        Assert.Equal("True", (await client.ReadResponseAsync(3)).BodyText);
    }

    [Fact]
    public async Task RequestBodyLargerThanTheLimitIsA413()
    {
        await using var client = await Http2TestClient.ConnectAsync(
            async context => await new StreamReader(context.Request.Body).ReadToEndAsync(),
            o => o.MaxRequestBodySize = 10);

        await client.SendPostAsync(1);
        await client.SendDataAsync(1, new string('x', 11), endStream: true);
        Assert.Equal("413", (await client.ReadResponseAsync(1)).Status);
    }

    [Fact]
    public async Task DeclaredContentLengthOverTheLimitIsRejectedOnFirstRead()
    {
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                Assert.False(context.Features.Get<IHttpMaxRequestBodySizeFeature>()!.IsReadOnly);
                await context.Request.Body.ReadExactlyAsync(new byte[1]);
            },
            o => o.MaxRequestBodySize = 100);

        await client.SendPostAsync(1, "/", ("content-length", "1000"));
        Assert.Equal("413", (await client.ReadResponseAsync(1)).Status);
    }

    [Fact]
    public async Task HandlerCanRaiseTheBodyLimitBeforeReading()
    {
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                context.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = 1000;
                string body = await new StreamReader(context.Request.Body).ReadToEndAsync();
                await context.Response.WriteAsync(body.Length.ToString());
            },
            o => o.MaxRequestBodySize = 10);

        await client.SendPostAsync(1);
        await client.SendDataAsync(1, new string('x', 500), endStream: true);
        Assert.Equal("500", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task SynchronousIOIsRefusedUnlessAllowed()
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            var error = Assert.Throws<InvalidOperationException>(() => context.Response.Body.Write(new byte[1]));
            return context.Response.WriteAsync(error.Message.Contains("Synchronous") ? "refused" : "wrong");
        });

        await client.SendGetAsync(1);
        Assert.Equal("refused", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task SynchronousIOWorksWhenAllowed()
    {
        await using var client = await Http2TestClient.ConnectAsync(
            context =>
            {
                context.Response.Body.Write(Encoding.ASCII.GetBytes("sync"));
                return Task.CompletedTask;
            },
            o => o.AllowSynchronousIO = true);

        await client.SendGetAsync(1);
        Assert.Equal("sync", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task ConnectionFeaturesComeFromTheConnection()
    {
        await using var client = Http2TestClient.Start(context =>
        {
            var connection = context.Features.Get<IHttpConnectionFeature>()!;
            string custom = context.Features.Get<CustomConnectionFeature>()?.Value ?? "missing";
            return context.Response.WriteAsync($"{connection.ConnectionId}|{connection.RemoteIpAddress}:{connection.RemotePort}|{connection.LocalPort}|{custom}|{context.TraceIdentifier}");
        });
        client.Connection.Features.Set(new CustomConnectionFeature("from-connection"));
        await client.HandshakeAsync();

        await client.SendGetAsync(5);
        Assert.Equal($"test-connection|{IPAddress.Loopback}:50000|443|from-connection|test-connection:00000005", (await client.ReadResponseAsync(5)).BodyText);
    }

    [Fact]
    public async Task PipeReaderAndWriterWorkAsBodies()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            var result = await context.Request.BodyReader.ReadAtLeastAsync(6);
            string text = Encoding.ASCII.GetString(result.Buffer.Slice(0, 6).ToArray());
            context.Request.BodyReader.AdvanceTo(result.Buffer.GetPosition(6));
            await context.Response.BodyWriter.WriteAsync(Encoding.ASCII.GetBytes(text.ToUpperInvariant()));
        });

        await client.SendPostAsync(1);
        await client.SendDataAsync(1, "abcdef", endStream: true);
        Assert.Equal("ABCDEF", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task AStreamObjectReusedForANewRequestStartsClean()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            string seen = $"{context.Request.Headers["x-only-first"]}|{context.Response.Headers.Count}|{context.Items.Count}";
            context.Items["k"] = "v";
            context.Response.Headers["x-r"] = context.Request.Path.Value;
            await context.Response.WriteAsync(seen);
        });

        await client.SendGetAsync(1, "/a", true, ("x-only-first", "1"));
        Assert.Equal("1|0|0", (await client.ReadResponseAsync(1)).BodyText);
        await client.SendGetAsync(3, "/b");
        TestResponse second = await client.ReadResponseAsync(3);
        Assert.Equal("|0|0", second.BodyText);
        Assert.Equal("/b", second.Header("x-r"));
    }

    private sealed record CustomConnectionFeature(string Value);
}
