using System.Security.Cryptography;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.Streams;

/// <summary>
/// Request bodies read through <c>Request.Body.ReadAsync</c> into the handler's own buffer, without a token: whatever
/// the frames and the buffer, the handler sees every byte once and in order, and a body that ends, fails or is reset
/// while the handler waits ends its read; one over MaxRequestBodySize fails it with 413.
/// </summary>
public class RequestBodyStreamTests
{
    private const int BigBuffer = 64 * 1024;

    /// <summary>Reads the body through Body.ReadAsync without a token and answers with its length and SHA-256.</summary>
    private static RequestDelegate DigestHandler(int bufferSize) => async context =>
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[bufferSize];
        long total = 0;
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }

        await context.Response.WriteAsync($"{total}:{Convert.ToHexString(hash.GetHashAndReset())}");
    };

    private static string Digest(byte[] body) => $"{body.Length}:{Convert.ToHexString(SHA256.HashData(body))}";

    [Theory]
    [InlineData(4096, 1)]
    [InlineData(5000, 2)]
    [InlineData(16_384, 3)]
    [InlineData(BigBuffer, 4)]
    public async Task EveryByteArrivesOnceAndInOrderWhateverTheFramesAndTheBuffer(int bufferSize, int seed)
    {
        var random = new Random(seed);
        byte[] body = new byte[300 * 1024];
        random.NextBytes(body);
        await using var client = await Http2TestClient.ConnectAsync(DigestHandler(bufferSize));
        await client.SendPostAsync(1);

        int sent = 0;
        while (sent < body.Length)
        {
            // A burst of one to four frames of any size: some arrive while the handler waits, some while it is busy.
            int frames = random.Next(1, 5);
            var burst = new List<(int Offset, int Length)>();
            for (int i = 0; i < frames && sent < body.Length; i++)
            {
                int length = Math.Min(random.Next(1, Http2Limits.DefaultMaxFrameSize + 1), body.Length - sent);
                burst.Add((sent, length));
                sent += length;
            }

            bool last = sent == body.Length;
            await client.SendAsync(w =>
            {
                for (int i = 0; i < burst.Count; i++)
                {
                    Http2FrameWriter.WriteData(w, 1, body.AsSpan(burst[i].Offset, burst[i].Length), endStream: last && i == burst.Count - 1);
                }
            });
            if (random.Next(3) == 0)
            {
                // Let the handler catch up and wait for the next frame.
                await Task.Delay(1);
            }
        }

        Assert.Equal(Digest(body), (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task ManyStreamsUploadingAtOnceAllComplete()
    {
        // Frames for many streams interleaved: each handler reads while the loop delivers to the others.
        const int Streams = 8;
        const int BodySize = 256 * 1024;
        var random = new Random(7);
        await using var client = await Http2TestClient.ConnectAsync(DigestHandler(BigBuffer), o =>
        {
            o.InitialConnectionWindowSize = 2 * Streams * BodySize;
            o.InitialStreamWindowSize = 2 * BodySize;
            o.EnableAdaptiveReceiveWindows = false;
        });
        for (int round = 0; round < 4; round++)
        {
            int firstId = 1 + (round * Streams * 2);
            var bodies = new Dictionary<int, byte[]>();
            for (int i = 0; i < Streams; i++)
            {
                int id = firstId + (2 * i);
                bodies[id] = new byte[BodySize];
                random.NextBytes(bodies[id]);
                await client.SendPostAsync(id);
            }

            for (int offset = 0; offset < BodySize; offset += Http2Limits.DefaultMaxFrameSize)
            {
                int frameOffset = offset;
                await client.SendAsync(w =>
                {
                    foreach ((int id, byte[] body) in bodies)
                    {
                        int length = Math.Min(Http2Limits.DefaultMaxFrameSize, BodySize - frameOffset);
                        Http2FrameWriter.WriteData(w, id, body.AsSpan(frameOffset, length), endStream: frameOffset + length == BodySize);
                    }
                });
            }

            Dictionary<int, TestResponse> responses = await client.ReadResponsesAsync([.. bodies.Keys]);
            foreach ((int id, byte[] body) in bodies)
            {
                Assert.Equal(Digest(body), responses[id].BodyText);
            }
        }
    }

    [Fact]
    public async Task ABodyPeekedThroughTheBodyReaderIsThenReadWholeThroughBody()
    {
        var peeked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            System.IO.Pipelines.ReadResult peek = await context.Request.BodyReader.ReadAsync();
            // Examined, not consumed: the bytes stay for the reads below.
            context.Request.BodyReader.AdvanceTo(peek.Buffer.Start, peek.Buffer.End);
            peeked.SetResult();
            await DigestHandler(16_384)(context);
        });
        byte[] body = new byte[40_000];
        new Random(5).NextBytes(body);
        await client.SendPostAsync(1);
        await client.SendDataAsync(1, body[..10], endStream: false);
        await peeked.Task.WaitAsync(Http2TestClient.DefaultTimeout);

        await client.SendDataAsync(1, body[10..16_000], endStream: false);
        await client.SendDataAsync(1, body[16_000..30_000], endStream: false);
        await client.SendDataAsync(1, body[30_000..], endStream: true);

        Assert.Equal(Digest(body), (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task BytesReadIntoTheHandlersBufferGiveTheWindowBack()
    {
        // Small fixed windows: a megabyte gets through only if every byte read is given back to the client.
        void Configure(Http2ServeLoopOptions o)
        {
            o.InitialStreamWindowSize = 65_535;
            o.InitialConnectionWindowSize = 65_535;
            o.EnableAdaptiveReceiveWindows = false;
        }

        var options = new Http2ServeLoopOptions();
        Configure(options);
        var upload = new WindowedUpload();
        await using var client = await Http2TestClient.ConnectAsync(upload.Handler, Configure);
        await upload.StartAsync(client, options);

        await upload.SendAsync(1024 * 1024, endStream: true);

        Assert.Equal((1024 * 1024).ToString(), (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task AResetWhileTheHandlerWaitsFailsTheRead()
    {
        var readError = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            if (context.Request.Path == "/next")
            {
                await DigestHandler(BigBuffer)(context);
                return;
            }

            byte[] buffer = new byte[BigBuffer];
            try
            {
                Assert.Equal(100, await context.Request.Body.ReadAsync(buffer));
                firstRead.SetResult();
                _ = await context.Request.Body.ReadAsync(buffer);
                readError.SetException(new Xunit.Sdk.XunitException("the read returned"));
            }
            catch (Exception error)
            {
                readError.TrySetResult(error);
            }
        });
        await client.SendPostAsync(1);
        await client.SendDataAsync(1, new byte[100], endStream: false);
        await firstRead.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        await Task.Delay(20);

        await client.SendRstStreamAsync(1, Http2ErrorCode.Cancel);

        Assert.IsType<IOException>(await readError.Task.WaitAsync(Http2TestClient.DefaultTimeout));
        // The connection and its other streams go on.
        await client.SendPostAsync(3, "/next");
        await client.SendDataAsync(3, new byte[] { 1, 2, 3 }, endStream: true);
        Assert.Equal(Digest([1, 2, 3]), (await client.ReadResponseAsync(3)).BodyText);
    }

    /// <summary>
    /// A read that fails because the client reset the stream or went away finds RequestAborted cancelled, as under
    /// Kestrel: handlers tell a lost client from an error with <c>catch (IOException) when (RequestAborted...)</c>.
    /// Rounds, because the two used to race.
    /// </summary>
    [Theory]
    [InlineData("reset", "Body")]
    [InlineData("reset", "BodyReader")]
    [InlineData("connection lost", "Body")]
    [InlineData("connection lost", "BodyReader")]
    public async Task AReadThatFailsBecauseTheStreamEndedFindsRequestAbortedCancelled(string ending, string reader)
    {
        for (int round = 0; round < 10; round++)
        {
            var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var client = await Http2TestClient.ConnectAsync(async context =>
            {
                try
                {
                    waiting.SetResult();
                    if (reader == "Body")
                    {
                        _ = await context.Request.Body.ReadAsync(new byte[BigBuffer]);
                    }
                    else
                    {
                        _ = await context.Request.BodyReader.ReadAsync();
                    }

                    outcome.SetResult("the read returned");
                }
                catch (IOException)
                {
                    outcome.SetResult(context.RequestAborted.IsCancellationRequested ? "aborted" : "IOException, RequestAborted not cancelled");
                }
            });
            await client.SendPostAsync(1);
            await waiting.Task.WaitAsync(Http2TestClient.DefaultTimeout);
            await Task.Delay(10);

            await (ending == "reset" ? client.SendRstStreamAsync(1, Http2ErrorCode.Cancel) : client.CloseSendingAsync());

            Assert.Equal("aborted", await outcome.Task.WaitAsync(Http2TestClient.DefaultTimeout));
        }
    }

    [Fact]
    public async Task AnEmptyEndOfStreamWhileTheHandlerWaitsEndsTheBody()
    {
        var firstRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context =>
        {
            byte[] buffer = new byte[BigBuffer];
            int first = await context.Request.Body.ReadAsync(buffer);
            firstRead.SetResult();
            int second = await context.Request.Body.ReadAsync(buffer);
            await context.Response.WriteAsync($"{first} then {second}");
        });
        await client.SendPostAsync(1);
        await client.SendDataAsync(1, new byte[100], endStream: false);
        await firstRead.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        await Task.Delay(20);

        await client.SendDataAsync(1, [], endStream: true);

        Assert.Equal("100 then 0", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task ABodyOverTheLimitFailsTheReadWith413()
    {
        var readError = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                byte[] buffer = new byte[BigBuffer];
                try
                {
                    while (await context.Request.Body.ReadAsync(buffer) > 0)
                    {
                    }
                }
                catch (Exception error)
                {
                    readError.SetResult(error);
                    throw;
                }
            },
            o => o.MaxRequestBodySize = 10_000);
        await client.SendPostAsync(1);
        await Task.Delay(20);

        await client.SendDataAsync(1, new byte[16_000], endStream: false);

        var error = Assert.IsType<BadHttpRequestException>(await readError.Task.WaitAsync(Http2TestClient.DefaultTimeout));
        Assert.Equal(StatusCodes.Status413PayloadTooLarge, error.StatusCode);
        Assert.Equal("413", (await client.ReadResponseAsync(1)).Status);
    }
}
