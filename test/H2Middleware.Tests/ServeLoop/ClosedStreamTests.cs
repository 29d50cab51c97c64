using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// Frames on closed streams are judged by who closed the stream (RFC 9113 §5.1, §6.1): after the client's own
/// RST_STREAM they are a STREAM_CLOSED stream error; frames it sent before it saw ours are ignored.
/// </summary>
public class ClosedStreamTests
{
    [Fact]
    public async Task DataOnAStreamTheClientResetIsStreamClosedWhileItsHandlerRuns()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async _ => await release.Task);
        await client.SendPostAsync(1);
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);

        await client.SendDataAsync(1, "late", endStream: false);

        await client.ExpectRstStreamAsync(1, Http2ErrorCode.StreamClosed);
        release.SetResult();
    }

    /// <summary>POSTs wait until the client resets them (so the client's reset is what closes them); GETs answer "ok".</summary>
    private static async Task WaitForResetOrAnswer(HttpContext context)
    {
        if (HttpMethods.IsPost(context.Request.Method))
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { });
            return;
        }

        await context.Response.WriteAsync("ok");
    }

    [Fact]
    public async Task DataOnAStreamTheClientResetIsStreamClosedAfterItsObjectWasReused()
    {
        await using var client = await Http2TestClient.ConnectAsync(WaitForResetOrAnswer);
        await client.SendPostAsync(1);
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);
        for (int id = 3; id < 23; id += 2)
        {
            await client.SendGetAsync(id);
            await client.ReadResponseAsync(id);
        }

        await client.SendDataAsync(1, "late", endStream: false);

        await client.ExpectRstStreamAsync(1, Http2ErrorCode.StreamClosed);
    }

    [Fact]
    public async Task DataTheClientSentBeforeSeeingOurResetIsIgnored()
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResetFeature>()!.Reset((int)Http2ErrorCode.Cancel);
            return Task.CompletedTask;
        });
        await client.SendPostAsync(1);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.Cancel);

        await client.SendDataAsync(1, "in flight", endStream: true);
        await client.SendPingAsync(7);

        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.True(next.Type == Http2FrameType.Ping && next.IsAck, $"expected only the PING ack, got {next}");
    }

    [Fact]
    public async Task HeadersOnAStreamTheClientResetIsAStreamErrorOnly()
    {
        await using var client = await Http2TestClient.ConnectAsync(WaitForResetOrAnswer);
        await client.SendPostAsync(1);
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);

        await client.SendGetAsync(1);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.StreamClosed);

        await client.SendGetAsync(3);
        Assert.Equal("ok", (await client.ReadResponseAsync(3)).BodyText);
    }

    [Fact]
    public async Task HeadersOnAStreamWeResetStillUpdateTheHpackState()
    {
        await using var client = await Http2TestClient.ConnectAsync(context =>
        {
            if (context.Request.Path == "/reset")
            {
                context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResetFeature>()!.Reset((int)Http2ErrorCode.Cancel);
                return Task.CompletedTask;
            }

            return context.Response.WriteAsync(context.Request.Headers["x-indexed"].ToString());
        });
        await client.SendPostAsync(1, "/reset");
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.Cancel);

        // Trailers the client sent before it saw our reset: ignored, but their field enters the dynamic table (§5.1):
        // a literal with incremental indexing and a new name (RFC 7541 §6.2.1).
        byte[] trailers = [0x40, 9, .. "x-indexed"u8, 22, .. "from the ignored block"u8];
        await client.SendAsync(w => Http2FrameWriter.WriteHeaders(w, 1, trailers, endStream: true, client.MaxFrameSize));
        // The next request refers to that entry by index 62, the first of the dynamic table.
        byte[] request = [.. Http2TestClient.RawHeaderBlock(Http2TestClient.RequestHeaders("GET", "/")), 0x80 | 62];
        await client.SendAsync(w => Http2FrameWriter.WriteHeaders(w, 3, request, endStream: true, client.MaxFrameSize));

        Assert.Equal("from the ignored block", (await client.ReadResponseAsync(3)).BodyText);
    }

    [Fact]
    public async Task DataOnAStreamWeResetCountsForTheConnectionWindowAndIsGivenBack()
    {
        await using var client = await Http2TestClient.ConnectAsync(
            context =>
            {
                context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResetFeature>()!.Reset((int)Http2ErrorCode.Cancel);
                return Task.CompletedTask;
            },
            o => o.InitialConnectionWindowSize = 65_535);
        await client.SendPostAsync(1);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.Cancel);

        await client.SendDataAsync(1, new byte[16_384], endStream: false);
        await client.SendDataAsync(1, new byte[16_384], endStream: false);
        await client.SendDataAsync(1, new byte[16_384], endStream: true);

        ReceivedFrame update = await client.ExpectAsync(Http2FrameType.WindowUpdate, 0);
        Assert.True(update.WindowSizeIncrement >= 32_768, $"the connection window came back by {update.WindowSizeIncrement}");
    }
}
