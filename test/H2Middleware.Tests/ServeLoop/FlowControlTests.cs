using System.Text;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>RFC 9113 §5.2 and §6.9, both directions.</summary>
public class FlowControlTests
{
    [Fact]
    public async Task ResponseDataStopsAtTheStreamWindowAndResumesOnWindowUpdate()
    {
        await using var client = Http2TestClient.Start(context => context.Response.WriteAsync(new string('x', 100)));
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 30));

        await client.SendGetAsync(1);
        await client.ExpectAsync(Http2FrameType.Headers, 1);
        ReceivedFrame first = await client.ExpectAsync(Http2FrameType.Data, 1);
        Assert.Equal(30, first.Payload.Length);
        Assert.False(first.EndStream);

        await client.SendPingAsync(1);
        ReceivedFrame next = await client.ReadFrameAsync();
        Assert.Equal(Http2FrameType.Ping, next.Type);

        await client.SendWindowUpdateAsync(1, 70);
        ReceivedFrame rest = await client.ExpectAsync(Http2FrameType.Data, 1);
        Assert.Equal(70, rest.Payload.Length);
        if (!rest.EndStream)
        {
            Assert.True((await client.ExpectAsync(Http2FrameType.Data, 1)).EndStream);
        }
    }

    [Fact]
    public async Task ResponseDataStopsAtTheConnectionWindow()
    {
        await using var client = Http2TestClient.Start(context => context.Response.WriteAsync(new string('x', 70_000)));
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1_000_000));
        await client.SendGetAsync(1);
        await client.ExpectAsync(Http2FrameType.Headers, 1);
        int received = 0;
        while (received < 65_535)
        {
            received += (await client.ExpectAsync(Http2FrameType.Data, 1)).Payload.Length;
        }

        Assert.Equal(65_535, received);
        await client.SendPingAsync(3);
        Assert.Equal(Http2FrameType.Ping, (await client.ReadFrameAsync()).Type);

        await client.SendWindowUpdateAsync(0, 10_000);
        while (received < 70_000)
        {
            received += (await client.ExpectAsync(Http2FrameType.Data, 1)).Payload.Length;
        }

        Assert.Equal(70_000, received);
    }

    [Fact]
    public async Task NegativeWindowAfterSettingsChangeHoldsDataUntilRestored()
    {
        var wrote = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writeMore = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = Http2TestClient.Start(async context =>
        {
            await context.Response.WriteAsync(new string('a', 100));
            wrote.SetResult();
            await writeMore.Task;
            await context.Response.WriteAsync(new string('b', 10));
        });
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 100));
        await client.SendGetAsync(1);
        await client.ExpectAsync(Http2FrameType.Headers, 1);
        Assert.Equal(100, (await client.ExpectAsync(Http2FrameType.Data, 1)).Payload.Length);
        await wrote.Task.WaitAsync(Http2TestClient.DefaultTimeout);

        await client.SendSettingsAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 50));
        await client.ExpectAsync(Http2FrameType.Settings, 0);
        writeMore.SetResult();
        await client.SendWindowUpdateAsync(1, 50);
        await client.SendPingAsync(2);
        ReceivedFrame ping = await client.ReadFrameAsync();
        Assert.Equal(Http2FrameType.Ping, ping.Type);

        await client.SendWindowUpdateAsync(1, 10);
        ReceivedFrame data = await client.ExpectAsync(Http2FrameType.Data, 1);
        Assert.Equal(10, data.Payload.Length);
    }

    [Fact]
    public async Task ConnectionWindowOverflowIsAFlowControlError()
    {
        await using var client = await Http2TestClient.ConnectAsync(context => Task.CompletedTask);
        await client.SendWindowUpdateAsync(0, 0x7FFF_FFFF);
        await client.ExpectGoAwayAsync(Http2ErrorCode.FlowControlError);
    }

    [Fact]
    public async Task StreamWindowOverflowIsAStreamFlowControlError()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context => await release.Task);
        await client.SendGetAsync(1);
        await client.SendWindowUpdateAsync(1, 0x7FFF_FFFF);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.FlowControlError);
        release.SetResult();
    }

    /// <summary>
    /// §6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE that overflows an open stream's window is a FLOW_CONTROL_ERROR; §6.5.3:
    /// the frame's values count in order, so that holds even when a later value in the same frame would bring the window
    /// back.
    /// </summary>
    [Theory]
    [InlineData(new uint[] { 65_536 })]
    [InlineData(new uint[] { 65_536, 65_535 })]
    public async Task InitialWindowSizeThatOverflowsAnOpenStreamIsAConnectionFlowControlError(uint[] initialWindowSizes)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context => await release.Task);
        await client.SendGetAsync(1);
        await client.SendWindowUpdateAsync(1, 0x7FFF_FFFF - 65_535);
        await client.SendSettingsAsync([.. initialWindowSizes.Select(size => new Http2Setting(Http2SettingsParameter.InitialWindowSize, size))]);
        await client.ExpectGoAwayAsync(Http2ErrorCode.FlowControlError);
        release.SetResult();
    }

    /// <summary>A SETTINGS frame that repeats SETTINGS_INITIAL_WINDOW_SIZE leaves the windows at its last value.</summary>
    [Fact]
    public async Task TheLastInitialWindowSizeOfAFrameIsTheOneThatHolds()
    {
        await using var client = Http2TestClient.Start(context => context.Response.WriteAsync(new string('x', 100)));
        await client.HandshakeAsync(
            new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0),
            new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1_000),
            new Http2Setting(Http2SettingsParameter.InitialWindowSize, 30));

        await client.SendGetAsync(1);
        await client.ExpectAsync(Http2FrameType.Headers, 1);
        ReceivedFrame first = await client.ExpectAsync(Http2FrameType.Data, 1);

        Assert.Equal(30, first.Payload.Length);
        Assert.False(first.EndStream);
    }

    /// <summary>
    /// Streams held back by their own window and by the connection's, freed in an order unlike the one they stopped in:
    /// each gets its whole body once its windows allow, whichever window frees it.
    /// </summary>
    [Fact]
    public async Task StreamsWaitingForEitherWindowAllCompleteAsTheWindowsOpen()
    {
        const int Streams = 40;
        const int BodyLength = 5_000;
        await using var client = Http2TestClient.Start(context => context.Response.Body.WriteAsync(new byte[BodyLength]).AsTask());
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1_000));
        int[] ids = Enumerable.Range(0, Streams).Select(i => 2 * i + 1).ToArray();
        foreach (int id in ids)
        {
            await client.SendGetAsync(id);
        }

        // Every stream sends its first 1,000 bytes and waits for its own window; half of them get enough to need the
        // connection's too, which 40,000 bytes sent have left short of 20 × 4,000.
        await client.SendPingAsync(1);
        foreach (int id in ids.Where((_, i) => i % 2 == 0).Reverse())
        {
            await client.SendWindowUpdateAsync(id, BodyLength);
        }

        await client.SendPingAsync(2);
        await client.SendWindowUpdateAsync(0, Streams * BodyLength);
        foreach (int id in ids.Where((_, i) => i % 2 == 1))
        {
            await client.SendWindowUpdateAsync(id, BodyLength);
        }

        Dictionary<int, TestResponse> responses = await client.ReadResponsesAsync(ids);

        Assert.All(ids, id => Assert.Equal(BodyLength, responses[id].Body.Length));
    }

    /// <summary>
    /// A stream held by both windows: SETTINGS opens its own while the connection's is still shut, then a connection
    /// WINDOW_UPDATE opens that one, or the other way round; either way its DATA flows.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AStreamHeldByBothWindowsSendsOnceSettingsAndAConnectionUpdateOpenThem(bool settingsFirst)
    {
        await using var client = Http2TestClient.Start(context => context.Request.Path == "/big"
            ? context.Response.Body.WriteAsync(new byte[65_535]).AsTask()
            : context.Response.WriteAsync("hello"));
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));
        await client.SendGetAsync(1, "/big");
        await client.SendWindowUpdateAsync(1, 65_535);
        Assert.Equal(65_535, (await client.ReadResponseAsync(1)).Body.Length);
        await client.SendGetAsync(3, "/small");
        await client.ExpectAsync(Http2FrameType.Headers, 3);
        await client.SendPingAsync(1);
        await client.ExpectAsync(Http2FrameType.Ping, 0);

        Http2Setting opened = new(Http2SettingsParameter.InitialWindowSize, 65_535);
        if (settingsFirst)
        {
            await client.SendSettingsAsync(opened);
            await client.SendWindowUpdateAsync(0, 65_535);
        }
        else
        {
            await client.SendWindowUpdateAsync(0, 65_535);
            await client.SendSettingsAsync(opened);
        }

        ReceivedFrame frame;
        do
        {
            frame = await client.ReadFrameAsync();
        }
        while (frame.Type != Http2FrameType.Data || frame.StreamId != 3);

        Assert.Equal("hello", Encoding.ASCII.GetString(frame.Payload));
    }

    [Fact]
    public async Task DataBeyondTheStreamWindowIsAStreamFlowControlError()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context => await release.Task, o => o.InitialStreamWindowSize = 65_535);
        await client.SendPostAsync(1);
        for (int i = 0; i < 4; i++)
        {
            await client.SendDataAsync(1, new byte[16_384], endStream: false);
        }

        await client.SendDataAsync(1, new byte[100], endStream: false);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.FlowControlError);
        release.SetResult();
    }

    [Fact]
    public async Task ConsumedRequestBodyGivesTheWindowBack()
    {
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                long total = 0;
                var buffer = new byte[8192];
                int read;
                while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
                {
                    total += read;
                }

                await context.Response.WriteAsync(total.ToString());
            },
            o =>
            {
                o.InitialStreamWindowSize = 65_535;
                o.InitialConnectionWindowSize = 65_535;
            });

        await client.SendPostAsync(1);
        int sent = 0;
        int streamWindow = 65_535;
        int connectionWindow = 65_535;
        const int total = 300_000;
        while (sent < total)
        {
            int chunk = Math.Min(Math.Min(16_384, total - sent), Math.Min(streamWindow, connectionWindow));
            if (chunk == 0)
            {
                ReceivedFrame update = await client.ReadFrameAsync();
                if (Http2TestClient.IsWindowSamplePing(update))
                {
                    continue;
                }

                Assert.Equal(Http2FrameType.WindowUpdate, update.Type);
                if (update.StreamId == 0)
                {
                    connectionWindow += update.WindowSizeIncrement;
                }
                else
                {
                    streamWindow += update.WindowSizeIncrement;
                }

                continue;
            }

            await client.SendDataAsync(1, new byte[chunk], endStream: sent + chunk == total);
            sent += chunk;
            streamWindow -= chunk;
            connectionWindow -= chunk;
        }

        TestResponse response = await client.ReadResponseAsync(1);
        Assert.Equal(total.ToString(), response.BodyText);
    }

    [Fact]
    public async Task AHandlerThatOutrunsTheClientWaitsWithBoundedBuffering()
    {
        long written = 0;
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = Http2TestClient.Start(
            async context =>
            {
                var chunk = new byte[4096];
                for (int i = 0; i < 256; i++)
                {
                    await context.Response.Body.WriteAsync(chunk);
                    Interlocked.Add(ref written, chunk.Length);
                }

                finished.SetResult();
            },
            o => o.MaxResponseBufferSizePerStream = 32 * 1024);

        // The client grants no stream window: nothing can be sent, so the handler must stall near the buffer limit.
        await client.HandshakeAsync(new Http2Setting(Http2SettingsParameter.InitialWindowSize, 0));
        await client.SendGetAsync(1);
        await client.ExpectAsync(Http2FrameType.Headers, 1);
        await Task.Delay(300);
        Assert.False(finished.Task.IsCompleted);
        Assert.InRange(Interlocked.Read(ref written), 4096, 64 * 1024);

        await client.SendWindowUpdateAsync(0, 2 * 1024 * 1024);
        await client.SendWindowUpdateAsync(1, 2 * 1024 * 1024);
        long received = 0;
        while (received < 256 * 4096)
        {
            received += (await client.ExpectAsync(Http2FrameType.Data, 1)).Payload.Length;
        }

        await finished.Task.WaitAsync(Http2TestClient.DefaultTimeout);
        Assert.Equal(256 * 4096, received);
    }

    [Fact]
    public async Task TheConnectionWindowOfABodyRefusedForItsContentLengthComesBack()
    {
        await using var client = await Http2TestClient.ConnectAsync(
            context => context.Request.Body.CopyToAsync(context.Response.Body),
            o => o.InitialConnectionWindowSize = 65_535);
        await client.SendPostAsync(1, "/", ("content-length", "1"));
        for (int i = 0; i < 3; i++)
        {
            await client.SendDataAsync(1, new byte[16_000], endStream: false);
        }

        // The two frames after our RST_STREAM come back as ignored DATA does (32,000 bytes, under half the window);
        // only with the refused frame's 16,000 is the refund due.
        bool reset = false;
        long refunded = 0;
        while (!reset || refunded < 48_000)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            reset |= frame.Type == Http2FrameType.RstStream && frame.StreamId == 1 && frame.ErrorCode == Http2ErrorCode.ProtocolError;
            refunded += frame.Type == Http2FrameType.WindowUpdate && frame.StreamId == 0 ? frame.WindowSizeIncrement : 0;
        }
    }
}
