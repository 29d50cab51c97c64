using System.Text;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>Large body writes are sent from the handler's own buffer; order, flow control and resets still hold.</summary>
public class DirectWriteTests
{
    private static byte[] Pattern(int length, byte seed) => Enumerable.Range(0, length).Select(i => (byte)(seed + (i % 200))).ToArray();

    [Fact]
    public async Task LargeWritesInterleavedWithSmallOnesArriveInOrder()
    {
        byte[] big1 = Pattern(40_000, 1);
        byte[] big2 = Pattern(70_000, 7);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await context.Response.WriteAsync("head|");
            await context.Response.Body.WriteAsync(big1);
            await context.Response.WriteAsync("|middle|");
            await context.Response.BodyWriter.WriteAsync(big2);
            await context.Response.WriteAsync("|tail");
        });
        await client.SendWindowUpdateAsync(0, 1 << 20);

        await client.SendGetAsync(1);
        byte[] body = (await ReadWithWindowUpdatesAsync(client, 1)).Body;

        byte[] expected = [.. "head|"u8, .. big1, .. "|middle|"u8, .. big2, .. "|tail"u8];
        Assert.Equal(expected, body);
    }

    [Fact]
    public async Task ADirectWriteWaitsForWindowThenFinishes()
    {
        var written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = Http2TestClient.Start(async context =>
        {
            await context.Response.StartAsync();
            await context.Response.Body.WriteAsync(Pattern(50_000, 3));
            written.SetResult();
        });
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 10_000));
        await client.SendGetAsync(1);
        await client.ExpectAsync(Http2FrameType.Headers, 1);

        int received = 0;
        while (received < 10_000)
        {
            received += (await client.ExpectAsync(Http2FrameType.Data, 1)).Payload.Length;
        }

        await Task.Delay(100);
        Assert.False(written.Task.IsCompleted);

        await client.SendWindowUpdateAsync(1, 40_000);
        while (received < 50_000)
        {
            received += (await client.ExpectAsync(Http2FrameType.Data, 1)).Payload.Length;
        }

        await written.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        Assert.True((await client.ExpectAsync(Http2FrameType.Data, 1)).EndStream);
    }

    [Fact]
    public async Task AResetReleasesAHandlerWaitingOnADirectWrite()
    {
        var released = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = Http2TestClient.Start(async context =>
        {
            await context.Response.StartAsync();
            started.SetResult();
            var result = await context.Response.BodyWriter.WriteAsync(Pattern(50_000, 5));
            released.SetResult(result.IsCompleted);
        });
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));
        await client.SendGetAsync(1);
        await started.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        await client.ExpectAsync(Http2FrameType.Headers, 1);

        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);

        Assert.True(await released.Task.WaitAsync(Http2TestClient.DefaultTimeout));
    }

    [Fact]
    public async Task HeadNeverSendsALargeBody()
    {
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Response.ContentLength = 50_000;
            await context.Response.Body.WriteAsync(Pattern(50_000, 9));
        });

        await client.SendHeadersAsync(1, Http2TestClient.RequestHeaders("HEAD", "/"), endStream: true);
        TestResponse response = await client.ReadResponseAsync(1);

        Assert.Equal("50000", response.Header("content-length"));
        Assert.Empty(response.Body);
    }

    private static async Task<TestResponse> ReadWithWindowUpdatesAsync(Http2TestClient client, int streamId)
    {
        ReceivedFrame headers = await client.ExpectAsync(Http2FrameType.Headers, streamId);
        var body = new MemoryStream();
        while (true)
        {
            ReceivedFrame frame = await client.ExpectAsync(Http2FrameType.Data, streamId);
            body.Write(frame.Payload);
            if (frame.Payload.Length > 0)
            {
                await client.SendWindowUpdateAsync(streamId, frame.Payload.Length);
            }

            if (frame.EndStream)
            {
                return new TestResponse(client.DecodeHeaders(headers), body.ToArray(), null);
            }
        }
    }
}
