using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>Slow clients, limited as Kestrel limits them: header blocks that never end, trickled bodies, unread responses.</summary>
public class SlowClientTests
{
    /// <summary>Advances the fake clock a second at a time, letting the serve loop handle each tick (a PING round trip).</summary>
    private static async Task AdvanceAsync(Http2TestClient client, FakeTimeProvider time, int seconds)
    {
        for (int i = 0; i < seconds; i++)
        {
            await AdvanceAsync(client, time, TimeSpan.FromSeconds(1), (ulong)i);
        }
    }

    /// <summary>
    /// Advances the fake clock, then waits for the serve loop to have handled what that caused (a PING round trip);
    /// false when a response's HEADERS came first and <paramref name="responseExpected"/>.
    /// </summary>
    private static async Task<bool> AdvanceAsync(Http2TestClient client, FakeTimeProvider time, TimeSpan step, ulong pingData, bool responseExpected = false)
    {
        time.Advance(step);
        await client.SendPingAsync(pingData);
        while (true)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            if (frame.Type == Http2FrameType.Ping && frame.IsAck && frame.PingData == pingData)
            {
                return true;
            }

            if (responseExpected && frame.Type == Http2FrameType.Headers)
            {
                return false;
            }

            if (frame.Type is Http2FrameType.Headers or Http2FrameType.RstStream or Http2FrameType.GoAway)
            {
                throw new Xunit.Sdk.XunitException($"unexpected {frame} while the clock advanced");
            }
        }
    }

    [Fact]
    public async Task AHeaderBlockThatNeverCompletesEndsTheConnection()
    {
        var time = new FakeTimeProvider();
        await using var client = await Http2TestClient.ConnectAsync(context => Task.CompletedTask, o => o.TimeProvider = time);
        await client.SendPingAsync(1);
        await client.ExpectAsync(Http2FrameType.Ping, 0);
        byte[] block = client.EncodeHeaderBlock(Http2TestClient.RequestHeaders("GET", "/"));
        // HEADERS and one CONTINUATION, neither with END_HEADERS: the block stays open.
        await client.SendRawAsync(StreamStateTests.Frame(Http2FrameType.Headers, Http2FrameFlags.EndStream, 1, block[..5]));
        await client.SendRawAsync(StreamStateTests.Frame(Http2FrameType.Continuation, Http2FrameFlags.None, 1, block[5..6]));

        // No PING can show the loop has read the frames while the block is open: the clock moves in small steps.
        for (int i = 0; i < 40; i++)
        {
            await Task.Delay(10);
            time.Advance(TimeSpan.FromSeconds(1));
        }

        ReceivedFrame goAway = await client.ExpectGoAwayAsync(Http2ErrorCode.EnhanceYourCalm);
        Assert.Equal("RequestHeadersTimeout", goAway.GoAwayDebugData);
    }

    [Fact]
    public async Task ABodyTrickledBelowTheMinimumRateFailsTheReadWith408()
    {
        var time = new FakeTimeProvider();
        var readError = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstByteRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                try
                {
                    byte[] buffer = new byte[16];
                    Assert.Equal(1, await context.Request.Body.ReadAsync(buffer));
                    firstByteRead.SetResult();
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
            o => o.TimeProvider = time);
        await client.SendPostAsync(1);
        await client.SendDataAsync(1, "x", endStream: false);
        // The handler has the byte and waits for more: from here the clock counts against the client.
        await firstByteRead.Task.WaitAsync(Http2TestClient.DefaultTimeout);

        await AdvanceAsync(client, time, 5);
        time.Advance(TimeSpan.FromSeconds(2));

        var error = Assert.IsType<Microsoft.AspNetCore.Http.BadHttpRequestException>(await readError.Task.WaitAsync(Http2TestClient.DefaultTimeout));
        Assert.Equal(StatusCodes.Status408RequestTimeout, error.StatusCode);
        Assert.Equal("408", (await client.ReadResponseAsync(1)).Status);
    }

    [Fact]
    public async Task AByteSentJustBeforeEachCheckDoesNotHideTheHandlersWait()
    {
        // The client lets the handler wait nine tenths of every second, then sends one byte just before the
        // once-a-second check, so that at each check the handler has not yet looked at the new byte.
        var time = new FakeTimeProvider();
        var readError = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var byteSeen = new SemaphoreSlim(0);
        using var mayAdvance = new SemaphoreSlim(0);
        using var advanced = new SemaphoreSlim(0);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                try
                {
                    while (true)
                    {
                        System.IO.Pipelines.ReadResult result = await context.Request.BodyReader.ReadAsync();
                        byteSeen.Release();
                        await mayAdvance.WaitAsync();
                        context.Request.BodyReader.AdvanceTo(result.Buffer.End);
                        advanced.Release();
                        if (result.IsCompleted)
                        {
                            return;
                        }
                    }
                }
                catch (Exception error)
                {
                    readError.SetResult(error);
                    throw;
                }
            },
            o => o.TimeProvider = time);
        await client.SendPostAsync(1);
        ulong ping = 0;
        // The stream opens, and its checks start, before the clock moves: they fall due at each whole second.
        await AdvanceAsync(client, time, TimeSpan.Zero, ping++);
        bool responded = false;
        for (int second = 0; second < 12 && !responded; second++)
        {
            responded = !await AdvanceAsync(client, time, TimeSpan.FromMilliseconds(900), ping++, responseExpected: true);
            if (!responded)
            {
                await client.SendDataAsync(1, "x", endStream: false);
                await byteSeen.WaitAsync(Http2TestClient.DefaultTimeout);
                responded = !await AdvanceAsync(client, time, TimeSpan.FromMilliseconds(100), ping++, responseExpected: true);
            }

            mayAdvance.Release();
            if (!responded)
            {
                await advanced.WaitAsync(Http2TestClient.DefaultTimeout);
            }
        }

        var error = Assert.IsType<Microsoft.AspNetCore.Http.BadHttpRequestException>(await readError.Task.WaitAsync(Http2TestClient.DefaultTimeout));
        Assert.Equal(StatusCodes.Status408RequestTimeout, error.StatusCode);
    }

    [Fact]
    public async Task AHandlerCanTurnTheRequestBodyRateOff()
    {
        var time = new FakeTimeProvider();
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                context.Features.Get<IHttpMinRequestBodyDataRateFeature>()!.MinDataRate = null;
                string body = await new StreamReader(context.Request.Body).ReadToEndAsync();
                await context.Response.WriteAsync(body);
            },
            o => o.TimeProvider = time);
        await client.SendPostAsync(1);
        await client.SendDataAsync(1, "x", endStream: false);

        await AdvanceAsync(client, time, 10);
        await client.SendDataAsync(1, "y", endStream: true);

        Assert.Equal("xy", (await client.ReadResponseAsync(1)).BodyText);
    }

    [Fact]
    public async Task AResponseTheClientDoesNotTakeIsResetAfterTheGracePeriod()
    {
        var time = new FakeTimeProvider();
        await using var client = Http2TestClient.Start(
            context => context.Response.Body.WriteAsync(new byte[100_000]).AsTask(),
            o =>
            {
                o.TimeProvider = time;
                o.MinResponseDataRate = new MinDataRate(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));
            });
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));
        await client.SendGetAsync(1);
        client.DecodeHeaders(await client.ExpectAsync(Http2FrameType.Headers, 1));

        await AdvanceAsync(client, time, 5);
        time.Advance(TimeSpan.FromSeconds(2));

        await client.ExpectRstStreamAsync(1, Http2ErrorCode.EnhanceYourCalm);
    }

    [Fact]
    public async Task AHandlerCanTurnTheResponseRateOff()
    {
        var time = new FakeTimeProvider();
        await using var client = Http2TestClient.Start(
            async context =>
            {
                context.Features.Get<IHttpMinResponseDataRateFeature>()!.MinDataRate = null;
                await context.Response.Body.WriteAsync(new byte[100_000]);
            },
            o => o.TimeProvider = time);
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));
        await client.SendGetAsync(1);
        client.DecodeHeaders(await client.ExpectAsync(Http2FrameType.Headers, 1));

        await AdvanceAsync(client, time, 10);
        await client.SendSettingsAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 200_000));
        await client.SendWindowUpdateAsync(0, 200_000);

        int received = 0;
        bool ended = false;
        while (!ended)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            Assert.NotEqual(Http2FrameType.RstStream, frame.Type);
            if (frame.Type == Http2FrameType.Data)
            {
                received += frame.Payload.Length;
                ended = frame.EndStream;
            }
        }

        Assert.Equal(100_000, received);
    }
}
