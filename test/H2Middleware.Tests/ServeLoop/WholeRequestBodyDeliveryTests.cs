using System.IO.Pipelines;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// A request body that arrives whole in its first DATA frame before the handler reads reaches the handler without the
/// request pipe: its connection window comes back at once, it reads like any body (in pieces, through either API, under
/// the handler's size limit), and its block goes back to the pool with the stream. A handler already reading when the
/// body arrives gets it through the pipe.
/// </summary>
public class WholeRequestBodyDeliveryTests
{
    private const int MinimumWindow = 65_535;

    /// <summary>HEADERS and one DATA frame with END_STREAM in a single write, as most clients send a small POST.</summary>
    private static Task SendWholePostAsync(Http2TestClient client, int streamId, byte[] body) =>
        client.SendAsync(w =>
        {
            Http2FrameWriter.WriteHeaders(w, streamId, client.EncodeHeaderBlock(Http2TestClient.RequestHeaders("POST", "/")), endStream: false, client.MaxFrameSize);
            Http2FrameWriter.WriteData(w, streamId, body, endStream: true);
        });

    /// <summary>Returns once the loop has processed every frame sent before: it answers a PING in order.</summary>
    private static async Task WaitForLoopAsync(Http2TestClient client, ulong pingData)
    {
        await client.SendPingAsync(pingData);
        while (true)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            if (frame.Type == Http2FrameType.Ping && frame.IsAck && frame.PingData == pingData)
            {
                return;
            }
        }
    }

    private static async Task<string> ReadBodyAsync(PipeReader reader)
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            if (result.IsCompleted)
            {
                string text = Encoding.UTF8.GetString(result.Buffer);
                reader.AdvanceTo(result.Buffer.End);
                return text;
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    [Fact]
    public async Task WholeBodiesGiveTheConnectionWindowBackBeforeAnyHandlerReads()
    {
        const int streams = 10;
        const int bodyLength = 4000;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                await gate.Task;
                string body = await ReadBodyAsync(context.Request.BodyReader);
                await context.Response.WriteAsync(body.Length.ToString());
            },
            o =>
            {
                o.InitialConnectionWindowSize = MinimumWindow;
                o.EnableAdaptiveReceiveWindows = false;
            });

        // 40,000 bytes: more than half the connection window, which is when its update is due. Through the pipe, no
        // window would come back before the handlers read.
        for (int i = 0; i < streams; i++)
        {
            await SendWholePostAsync(client, (2 * i) + 1, new byte[bodyLength]);
        }

        ReceivedFrame update;
        do
        {
            update = await client.ReadFrameAsync();
        }
        while (update.Type != Http2FrameType.WindowUpdate || update.StreamId != 0);

        Assert.InRange(update.WindowSizeIncrement, (MinimumWindow / 2) + 1, streams * bodyLength);

        gate.SetResult();
        Dictionary<int, TestResponse> responses = await client.ReadResponsesAsync(Enumerable.Range(0, streams).Select(i => (2 * i) + 1).ToArray());
        Assert.All(responses.Values, r => Assert.Equal(bodyLength.ToString(), r.BodyText));
    }

    [Fact]
    public async Task AWholeBodyReadsInPiecesThroughBodyAndBodyReader()
    {
        string body = string.Concat(Enumerable.Range(0, 300).Select(i => (char)('a' + (i % 26))));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await gate.Task;
            PipeReader reader = context.Request.BodyReader;
            ReadResult first = await reader.ReadAsync();
            bool completeAtOnce = first.IsCompleted && first.Buffer.Length == body.Length;
            var text = new StringBuilder(Encoding.UTF8.GetString(first.Buffer.Slice(0, 10)));
            // Consume ten bytes, examine the rest: the next read starts after the ten.
            reader.AdvanceTo(first.Buffer.GetPosition(10), first.Buffer.End);
            byte[] small = new byte[7];
            int read;
            while ((read = await context.Request.Body.ReadAsync(small)) > 0)
            {
                text.Append(Encoding.UTF8.GetString(small, 0, read));
            }

            ReadResult end = await reader.ReadAsync();
            await context.Response.WriteAsync($"{completeAtOnce} {end.IsCompleted} {end.Buffer.Length} {text}");
        });

        await SendWholePostAsync(client, 1, Encoding.UTF8.GetBytes(body));
        await WaitForLoopAsync(client, 1);
        gate.SetResult();

        Assert.Equal($"True True 0 {body}", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task AHandlerAlreadyReadingGetsTheBodyThroughThePipe()
    {
        var reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            ValueTask<ReadResult> pending = context.Request.BodyReader.ReadAsync();
            reading.SetResult();
            ReadResult result = await pending;
            string text = Encoding.UTF8.GetString(result.Buffer);
            context.Request.BodyReader.AdvanceTo(result.Buffer.End);
            await context.Response.WriteAsync(text + " " + await ReadBodyAsync(context.Request.BodyReader));
        });

        await client.SendPostAsync(1);
        await reading.Task;
        await client.SendDataAsync(1, "through the pipe", endStream: true);

        Assert.Equal("through the pipe ", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task AWholeBodyOverTheHandlersLimitIsRefusedWith413()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            await gate.Task;
            context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = 10;
            try
            {
                await context.Request.BodyReader.ReadAsync();
            }
            catch (BadHttpRequestException e)
            {
                context.Response.StatusCode = e.StatusCode;
            }
        });

        await SendWholePostAsync(client, 1, new byte[100]);
        await WaitForLoopAsync(client, 2);
        gate.SetResult();

        Assert.Equal("413", (await client.ReadResponseAsync(1)).Status);
    }

    [Fact]
    public async Task AWholeBodyShorterThanItsContentLengthIsAMalformedRequest()
    {
        var readFailure = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            try
            {
                await ReadBodyAsync(context.Request.BodyReader);
                readFailure.SetResult(null);
            }
            catch (Exception e)
            {
                readFailure.SetResult(e);
            }
        });

        await client.SendAsync(w =>
        {
            Http2FrameWriter.WriteHeaders(w, 1, client.EncodeHeaderBlock(Http2TestClient.RequestHeaders("POST", "/", ("content-length", "20"))), endStream: false, client.MaxFrameSize);
            Http2FrameWriter.WriteData(w, 1, new byte[10], endStream: true);
        });

        // RFC 9113 §8.1.1: a content-length that does not match the DATA is malformed, a PROTOCOL_ERROR stream error.
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
        Assert.IsType<IOException>(await readFailure.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ACancelBeforeTheFirstReadIsReportedOnceWhicheverWayTheBodyComes(bool whole)
    {
        var canceled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bodySent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            context.Request.BodyReader.CancelPendingRead();
            canceled.SetResult();
            await bodySent.Task;
            ReadResult first = await context.Request.BodyReader.ReadAsync();
            context.Request.BodyReader.AdvanceTo(first.Buffer.Start);
            string rest = await ReadBodyAsync(context.Request.BodyReader);
            await context.Response.WriteAsync($"{first.IsCanceled} {rest}");
        });

        if (whole)
        {
            await SendWholePostAsync(client, 1, Encoding.UTF8.GetBytes("body"));
            await canceled.Task;
        }
        else
        {
            // In two frames: the first has no END_STREAM, so the body goes through the pipe.
            await client.SendPostAsync(1);
            await canceled.Task;
            await client.SendDataAsync(1, "bo", endStream: false);
            await client.SendDataAsync(1, "dy", endStream: true);
        }

        await WaitForLoopAsync(client, 3);
        bodySent.SetResult();
        Assert.Equal("True body", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task AWholeBodysBlockGoesBackToThePoolWithItsStream()
    {
        var pool = new CountingMemoryPool(maxBufferSize: 4096);
        var bodyTaken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // A clock that stands still: the connection never counts as idle, so only the recycling can give blocks back.
        await using var client = Http2TestClient.Start(
            async context =>
            {
                await bodyTaken.Task;
                await context.Response.WriteAsync((await ReadBodyAsync(context.Request.BodyReader)).Length.ToString());
            },
            o => o.TimeProvider = new FakeTimeProvider(),
            memoryPool: pool);
        await client.HandshakeAsync();
        long beforeRequests = pool.OutstandingBytes;

        for (int streamId = 1; streamId <= 5; streamId += 2)
        {
            await SendWholePostAsync(client, streamId, new byte[1000]);
            await WaitForLoopAsync(client, (ulong)streamId);
            // The block is rented (the body went around the pipe) until the stream is recycled.
            Assert.True(pool.OutstandingBytes >= beforeRequests + 1000, $"stream {streamId}'s body is not in a block");
            bodyTaken.TrySetResult();
            Assert.Equal("1000", (await client.ReadResponseAsync(streamId)).BodyText);
            Assert.True(
                SpinWait.SpinUntil(() => pool.OutstandingBytes <= beforeRequests, TimeSpan.FromSeconds(10)),
                $"the quiet connection still holds {pool.OutstandingBytes - beforeRequests:N0} bytes after stream {streamId}");
        }
    }
}
