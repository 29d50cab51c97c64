using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>RFC 9113 §5.1 stream states and §5.1.1 stream identifiers, seen from the wire.</summary>
public class StreamStateTests
{
    private static readonly RequestDelegate Hello = context => context.Response.WriteAsync("hello");

    [Fact]
    public async Task EvenStreamIdIsAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendGetAsync(2);
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        await client.ExpectConnectionClosedAsync();
    }

    [Fact]
    public async Task OpeningALowerStreamIdIsAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendGetAsync(5);
        await client.ReadResponseAsync(5);
        await client.SendGetAsync(3);
        ReceivedFrame goAway = await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        Assert.Equal(5, goAway.LastStreamId);
    }

    [Fact]
    public async Task HeadersOnAClosedStreamIsAStreamClosedConnectionError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendGetAsync(1);
        await client.ReadResponseAsync(1);
        await client.SendGetAsync(1);
        await client.ExpectGoAwayAsync(Http2ErrorCode.StreamClosed);
    }

    [Fact]
    public async Task DataOnAnIdleStreamIsAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendDataAsync(1, "x", endStream: true);
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task RstStreamOnAnIdleStreamIsAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task WindowUpdateOnAnIdleStreamIsAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendWindowUpdateAsync(1, 100);
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task DataAfterEndStreamIsAStreamClosedError()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await release.Task;
            await context.Response.WriteAsync("late");
        });

        await client.SendGetAsync(1);
        await client.SendDataAsync(1, "x", endStream: false);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.StreamClosed);
        release.SetResult();

        await client.SendGetAsync(3);
        Assert.Equal("late", (await client.ReadResponseAsync(3)).BodyText);
    }

    [Fact]
    public async Task StreamsBeyondTheConcurrencyLimitAreRefused()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                await release.Task;
                await context.Response.WriteAsync("done");
            },
            o => o.MaxStreamsPerConnection = 2);

        await client.SendGetAsync(1);
        await client.SendGetAsync(3);
        await client.SendGetAsync(5);
        await client.ExpectRstStreamAsync(5, Http2ErrorCode.RefusedStream);

        release.SetResult();
        var responses = await client.ReadResponsesAsync(1, 3);
        Assert.Equal("done", responses[1].BodyText);
        Assert.Equal("done", responses[3].BodyText);
    }

    [Fact]
    public async Task PushPromiseFromAClientIsAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendAsync(w => Http2FrameWriter.WritePushPromise(w, 1, 2, client.EncodeHeaderBlock(Http2TestClient.RequestHeaders("GET", "/")), 16_384));
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task AFrameInsideAnOpenHeaderBlockIsAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        byte[] block = client.EncodeHeaderBlock(Http2TestClient.RequestHeaders("GET", "/"));
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream, 1, block[..2]));
        await client.SendPingAsync(7);
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task ContinuationWithoutHeadersIsAConnectionProtocolError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendRawAsync(Frame(Http2FrameType.Continuation, Http2FrameFlags.EndHeaders, 1, [0x82]));
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task HeaderBlockSplitAcrossContinuationFramesIsServed()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        byte[] block = client.EncodeHeaderBlock(Http2TestClient.RequestHeaders("GET", "/split", ("x-a", "1"), ("x-b", "2")));
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream, 1, block[..3]));
        await client.SendRawAsync(Frame(Http2FrameType.Continuation, Http2FrameFlags.None, 1, block[3..7]));
        await client.SendRawAsync(Frame(Http2FrameType.Continuation, Http2FrameFlags.EndHeaders, 1, block[7..]));
        Assert.Equal("hello", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task TrailersWhoseStreamWeResetMidBlockAreDecodedThenIgnored()
    {
        // The handler answers before the request ends, so we reset the stream (NO_ERROR) while the client's trailer
        // block is still open; its CONTINUATION then belongs to a stream that no longer exists on our side.
        var respond = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            if (context.Request.Path == "/early")
            {
                await respond.Task;
                await context.Response.WriteAsync("early");
                return;
            }

            await context.Request.Body.CopyToAsync(context.Response.Body);
        });

        await client.SendPostAsync(1, "/early");
        byte[] trailers = client.EncodeHeaderBlock([new("x-checksum", "abc"), new("x-trailer-two", "def")]);
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream, 1, trailers[..2]));
        respond.SetResult();
        Assert.Equal("early", (await client.ReadResponseAsync(1)).BodyText);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.NoError);
        await client.SendRawAsync(Frame(Http2FrameType.Continuation, Http2FrameFlags.EndHeaders, 1, trailers[2..]));

        // The HPACK contexts are still in step and the next stream is served normally.
        await client.SendPostAsync(3, "/echo", ("x-checksum", "abc"));
        await client.SendDataAsync(3, "body of three", endStream: true);
        Assert.Equal("body of three", (await client.ReadResponseAsync(3)).BodyText);
    }

    [Fact]
    public async Task EndlessContinuationFramesEndTheConnection()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream, 1, [0x82]));
        for (int i = 0; i < 100; i++)
        {
            await client.SendRawAsync(Frame(Http2FrameType.Continuation, Http2FrameFlags.None, 1, []));
        }

        await client.ExpectGoAwayAsync(Http2ErrorCode.EnhanceYourCalm);
    }

    [Fact]
    public async Task GoAwayFromTheClientLetsOpenStreamsFinishThenCloses()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await release.Task;
            await context.Response.WriteAsync("finished");
        });

        await client.SendGetAsync(1);
        await client.SendGoAwayAsync(0, Http2ErrorCode.NoError);
        ReceivedFrame goAway = await client.ExpectGracefulGoAwayAsync();
        Assert.Equal(1, goAway.LastStreamId);
        release.SetResult();
        TestResponse response = await client.ReadResponseAsync(1);
        Assert.Equal("finished", response.BodyText);
        await client.ExpectConnectionClosedAsync();
    }

    [Fact]
    public async Task GracefulShutdownSendsGoAwayAndFinishesInFlightStreams()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            started.TrySetResult();
            await release.Task;
            await context.Response.WriteAsync("finished");
        });

        await client.SendGetAsync(1);
        await started.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        client.Connection.RequestClose();
        ReceivedFrame goAway = await client.ExpectGracefulGoAwayAsync();
        Assert.Equal(1, goAway.LastStreamId);

        release.SetResult();
        Assert.Equal("finished", (await client.ReadResponseAsync(1)).BodyText);
        await client.ExpectConnectionClosedAsync();
    }

    internal static byte[] Frame(Http2FrameType type, Http2FrameFlags flags, int streamId, byte[] payload)
    {
        var frame = new byte[Http2FrameHeader.Size + payload.Length];
        new Http2FrameHeader(payload.Length, type, flags, streamId).Write(frame);
        payload.CopyTo(frame, Http2FrameHeader.Size);
        return frame;
    }
}
