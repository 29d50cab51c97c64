using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>Published HTTP/2 attacks meet a bounded answer, and what happens is logged with stable event ids.</summary>
public class HardeningTests
{
    [Fact]
    public async Task RapidResetCannotRunMoreHandlersThanTheStreamLimit()
    {
        int running = 0;
        int maxRunning = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(
            async context =>
            {
                int now = Interlocked.Increment(ref running);
                InterlockedMax(ref maxRunning, now);
                await release.Task;
                Interlocked.Decrement(ref running);
            },
            o => o.MaxStreamsPerConnection = 4);

        // CVE-2023-44487: open and reset at once, again and again. Handlers that ignore the reset keep their slot.
        for (int id = 1; id < 2 * 40; id += 2)
        {
            await client.SendGetAsync(id);
            await client.SendRstStreamAsync(id, Http2ErrorCode.Cancel);
        }

        ReceivedFrame goAway = await client.ExpectGoAwayAsync(Http2ErrorCode.EnhanceYourCalm);
        Assert.True(goAway.LastStreamId > 0);
        Assert.True(Volatile.Read(ref maxRunning) <= 4, $"{maxRunning} handlers ran at once");
        release.SetResult();
    }

    [Fact]
    public async Task AFloodOfEmptyDataFramesEndsTheConnection()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await Http2TestClient.ConnectAsync(async context => await release.Task);
        await client.SendPostAsync(1);
        for (int i = 0; i < 200; i++)
        {
            await client.SendDataAsync(1, [], endStream: false);
        }

        await client.ExpectGoAwayAsync(Http2ErrorCode.EnhanceYourCalm);
        release.SetResult();
    }

    [Fact]
    public async Task ProtocolErrorsAndResetsAreLoggedWithEventIds()
    {
        var logs = new CapturingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        await using var client = Http2TestClient.Start(context => context.Response.WriteAsync("x"), loggerFactory: factory);
        await client.HandshakeAsync();
        await client.SendRawHeadersAsync(1, [new(":method", "GET"), new(":path", "/")], endStream: true);
        await client.ExpectRstStreamAsync(1, Http2ErrorCode.ProtocolError);
        await client.SendGetAsync(2);
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        await client.ExpectConnectionClosedAsync();

        Assert.All(logs.Entries, entry => Assert.Equal("H2Middleware", entry.Category));
        Assert.Contains(logs.Entries, e => e.EventId.Id == 1 && e.EventId.Name == "ConnectionStarted");
        Assert.Contains(logs.Entries, e => e.EventId.Id == 5 && e.Message.Contains("missing :method, :scheme or :path"));
        Assert.Contains(logs.Entries, e => e.EventId.Id == 3 && e.Message.Contains("ProtocolError"));
        Assert.Contains(logs.Entries, e => e.EventId.Id == 7 && e.Message.Contains("odd"));
        Assert.Contains(logs.Entries, e => e.EventId.Id == 9 && e.Level == LogLevel.Trace && e.Message.Contains("Headers"));
        Assert.Contains(logs.Entries, e => e.EventId.Id == 10 && e.Message.Contains("RstStream"));
        Assert.Contains(logs.Entries, e => e.EventId.Id == 2);
    }

    [Fact]
    public async Task APingFloodFromAClientThatDoesNotReadIsCutOff()
    {
        var time = new FakeTimeProvider();
        var logs = new CapturingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var client = Http2TestClient.Start(
            context => Task.CompletedTask,
            o => o.TimeProvider = time,
            loggerFactory: factory,
            clientReceiveBuffer: 16 * 1024);
        await client.HandshakeAsync();

        // CVE-2019-9512: every PING owes an ACK; a client that never reads them makes the server buffer without bound.
        byte[] ping = StreamStateTests.Frame(Http2FrameType.Ping, Http2FrameFlags.None, 0, new byte[8]);
        byte[] flood = Enumerable.Repeat(ping, 12_000).SelectMany(frame => frame).ToArray();
        await client.SendRawAsync(flood);

        // The connection error is logged once the close timer is armed; only then may the clock move.
        using var deadline = new CancellationTokenSource(Http2TestClient.DefaultTimeout);
        while (!logs.Entries.Any(e => e.EventId.Id == 7 && e.Message.Contains("EnhanceYourCalm")))
        {
            await Task.Delay(10, deadline.Token);
        }

        Assert.False(client.ServerTask.IsCompleted, "the server waits a while for the GOAWAY to be read");
        time.Advance(TimeSpan.FromSeconds(6));

        await client.ServerTask.WaitAsync(Http2TestClient.DefaultTimeout);
        Assert.True(client.Connection.ConnectionClosed.IsCancellationRequested, "the transport was aborted");
    }

    [Fact]
    public async Task AnApplicationExceptionIsLoggedOnce()
    {
        var logs = new CapturingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var client = Http2TestClient.Start(_ => throw new InvalidOperationException("handler failed"), loggerFactory: factory);
        await client.HandshakeAsync();

        await client.SendGetAsync(1);
        Assert.Equal("500", (await client.ReadResponseAsync(1)).Status);

        var errors = logs.Entries.Where(e => e.Level >= LogLevel.Error).ToList();
        var error = Assert.Single(errors);
        Assert.Equal(8, error.EventId.Id);
        Assert.Contains("stream 1", error.Message);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
