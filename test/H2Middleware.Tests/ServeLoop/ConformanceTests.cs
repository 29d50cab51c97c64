using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using static H2Middleware.Tests.ServeLoop.StreamStateTests;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>More RFC 9113 rules, checked end to end on the serve loop (the frame-level ones are in Frames/).</summary>
public class ConformanceTests
{
    private static readonly RequestDelegate Hello = context => context.Response.WriteAsync("hello");

    [Fact]
    public async Task UnknownFrameTypesAreIgnored()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendRawAsync(Frame((Http2FrameType)0xAA, Http2FrameFlags.None, 0, [1, 2, 3]));
        await client.SendRawAsync(Frame((Http2FrameType)0xAB, Http2FrameFlags.None, 1, [4]));
        await client.SendGetAsync(1);
        Assert.Equal("hello", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task FrameLargerThanOurMaxFrameSizeIsAConnectionFrameSizeError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendPostAsync(1);
        await client.SendRawAsync(Frame(Http2FrameType.Data, Http2FrameFlags.None, 1, new byte[16_385]));
        await client.ExpectGoAwayAsync(Http2ErrorCode.FrameSizeError);
    }

    [Fact]
    public async Task InvalidSettingsValueIsAConnectionError()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendSettingsAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0x8000_0000));
        await client.ExpectGoAwayAsync(Http2ErrorCode.FlowControlError);
    }

    [Fact]
    public async Task HeadersDependingOnThemselvesResetTheStreamAndKeepHpackInStep()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        byte[] block = client.EncodeHeaderBlock(Http2TestClient.RequestHeaders("GET", "/", ("x-indexed", "value")));
        byte[] payload = [0x00, 0x00, 0x00, 0x01, 15, .. block];
        await client.SendRawAsync(Frame(Http2FrameType.Headers, Http2FrameFlags.Priority | Http2FrameFlags.EndHeaders | Http2FrameFlags.EndStream, 1, payload));
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);

        // The block above added entries to the server's table; this block refers to them.
        await client.SendGetAsync(3, "/", true, ("x-indexed", "value"));
        Assert.Equal("hello", (await client.ReadResponseAsync(3)).BodyText);
    }

    [Fact]
    public async Task PriorityFramesAreAcceptedOnIdleAndOpenStreams()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendAsync(w => Http2FrameWriter.WritePriority(w, 9, 0, exclusive: false, weight: 16));
        await client.SendGetAsync(1);
        await client.SendAsync(w => Http2FrameWriter.WritePriority(w, 1, 0, exclusive: true, weight: 200));
        Assert.Equal("hello", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task ResetAndWindowUpdateOnAClosedStreamAreIgnored()
    {
        await using var client = await Http2TestClient.ConnectAsync(Hello);
        await client.SendGetAsync(1);
        await client.ReadResponseAsync(1);

        await client.SendWindowUpdateAsync(1, 100);
        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);
        await client.SendPingAsync(5);

        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.Equal(Http2FrameType.Ping, next.Type);
        Assert.True(next.IsAck);
    }

    [Fact]
    public async Task PaddedDataIsReadWithoutItsPaddingAndItsWindowComesBack()
    {
        await using var client = await Http2TestClient.ConnectAsync(
            async context => await context.Response.WriteAsync(await new StreamReader(context.Request.Body).ReadToEndAsync()),
            o =>
            {
                o.InitialStreamWindowSize = 65_535;
                o.InitialConnectionWindowSize = 65_535;
            });

        await client.SendPostAsync(1);
        byte[] padded = [200, .. "payload"u8, .. new byte[200]];
        for (int i = 0; i < 200; i++)
        {
            await client.SendRawAsync(Frame(Http2FrameType.Data, Http2FrameFlags.Padded, 1, padded));
        }

        await client.SendDataAsync(1, "", endStream: true);
        TestResponse response = await client.ReadResponseAsync(1);

        // 200 frames of 408 flow-controlled octets exceed both 65,535-octet windows: they only fit because the
        // padding's window came back at once, and the handler's reads gave back the rest.
        Assert.Equal(string.Concat(Enumerable.Repeat("payload", 200)), response.BodyText);
    }

    [Fact]
    public async Task DataOnAStreamTheServerRefusedIsIgnoredButCountsForTheConnectionWindow()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                await release.Task;
                await context.Response.WriteAsync("done");
            },
            o => o.MaxStreamsPerConnection = 1);

        await client.SendPostAsync(1);
        await client.SendPostAsync(3);
        await client.ExpectRstStreamAsync(3, Http2ErrorCode.RefusedStream);
        await client.SendDataAsync(3, new byte[1000], endStream: true);
        await client.SendPingAsync(1);
        Assert.Equal(Http2FrameType.Ping, (await client.ReadFrameAsync()).Type);

        release.SetResult();
        await client.SendDataAsync(1, "", endStream: true);
        Assert.Equal("done", (await client.ReadResponseAsync(1)).BodyText);
    }
}
