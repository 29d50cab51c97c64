using System.Buffers;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>
/// Faults injected at every point of a request: the transport failing (a read or flush that throws or ends, the connection
/// aborted), handlers throwing at every stage, and the client vanishing during a graceful shutdown. Whatever fails, nothing
/// hangs, the serve loop ends, every handler whose stream could not complete sees RequestAborted and returns, the
/// connection leaves no timer behind, and no pooled stream object serves a new request while a handler still holds it.
/// </summary>
public partial class FaultInjectionTests
{
    /// <summary>How long a connection may take to stop once its transport failed: the engine is told at once.</summary>
    private static readonly TimeSpan Promptly = TimeSpan.FromSeconds(3);

    /// <summary>The most any handler of these tests runs when nothing stops it, so that a broken engine cannot leak one forever.</summary>
    private static readonly TimeSpan HandlerBound = TimeSpan.FromSeconds(15);

    /// <summary>How the transport fails under the engine.</summary>
    public enum Vanish
    {
        /// <summary>The read in flight fails (a connection reset seen by the receive loop).</summary>
        ReadThrows,

        /// <summary>The engine's next ReadAsync throws before returning, as Kestrel's input pipe does once the socket failed.</summary>
        ReadThrowsSynchronously,

        /// <summary>The read in flight returns the end of the input, bytes in flight lost.</summary>
        ReadEnds,

        /// <summary>The flush in flight, or the next one, fails.</summary>
        WriteThrows,

        /// <summary>The engine's next FlushAsync throws before returning.</summary>
        WriteThrowsSynchronously,

        /// <summary>The flush in flight, or the next one, reports that the peer no longer reads.</summary>
        WriteEnds,

        /// <summary>Kestrel's ConnectionClosed token fires; the pipes go quiet.</summary>
        ConnectionAborted,
    }

    // ---- The transport failing while the request headers arrive ----

    [Theory]
    [InlineData(Vanish.ReadThrows, 0)]
    [InlineData(Vanish.ReadThrows, 1)]
    [InlineData(Vanish.ReadThrowsSynchronously, 0)]
    [InlineData(Vanish.ReadThrowsSynchronously, 1)]
    [InlineData(Vanish.ReadEnds, 0)]
    [InlineData(Vanish.ReadEnds, 1)]
    [InlineData(Vanish.ConnectionAborted, 0)]
    [InlineData(Vanish.ConnectionAborted, 1)]
    public async Task FaultWhileRequestHeadersArrive(Vanish how, int continuations)
    {
        await using Rig rig = await Rig.ConnectAsync(StreamUntilAbortedAsync);
        Http2TestClient client = rig.Client;
        await client.SendGetAsync(1, "/running");
        await HandlerProbe.Within(rig.Probe["/running"].Reached.Task, "the running handler streaming");

        // A header block cut into 100-byte frames; the client sends HEADERS and `continuations` CONTINUATION frames, never END_HEADERS.
        const int FragmentSize = 100;
        byte[] block = Http2TestClient.RawHeaderBlock(Http2TestClient.RequestHeaders("GET", "/never", ("x-filler", new string('f', 400))));
        var frames = new ArrayBufferWriter<byte>();
        Http2FrameWriter.WriteHeaders(frames, 3, block, endStream: true, FragmentSize);
        await client.SendRawAsync(frames.WrittenSpan[..((1 + continuations) * (Http2FrameHeader.Size + FragmentSize))].ToArray());
        await rig.Transport.Reader.WaitForConsumedAsync(client.BytesSent);

        await rig.InjectAsync(how);

        await rig.AssertConnectionEndedAsync(Promptly);
        await rig.Probe.AssertAbortedAsync("/running");
        Assert.False(rig.Probe["/never"].Started.Task.IsCompleted, "a request whose header block never ended was started");
        rig.AssertNoLeftovers();
    }

    // ---- The transport failing mid request body ----

    [Theory]
    [InlineData(Vanish.ReadThrows)]
    [InlineData(Vanish.ReadThrowsSynchronously)]
    [InlineData(Vanish.ReadEnds)]
    [InlineData(Vanish.ConnectionAborted)]
    public async Task FaultMidRequestBody(Vanish how)
    {
        await using Rig rig = await Rig.ConnectAsync(async (context, request) =>
        {
            if (context.Request.Path == "/running")
            {
                await StreamUntilAbortedAsync(context, request);
                return;
            }

            // No RequestAborted token here: the engine itself must end a read whose body will never come.
            using var bound = new CancellationTokenSource(HandlerBound);
            byte[] buffer = new byte[1024];
            long total = 0;
            try
            {
                while (true)
                {
                    int read = await context.Request.Body.ReadAsync(buffer, bound.Token);
                    if (read == 0)
                    {
                        request.BodyEnded = true;
                        return;
                    }

                    total += read;
                    request.Reached.TrySetResult(total);
                }
            }
            catch (Exception error)
            {
                request.Failure = error;
            }
        });
        Http2TestClient client = rig.Client;
        await client.SendGetAsync(1, "/running");
        await client.SendPostAsync(3, "/upload");
        await client.SendDataAsync(3, new byte[300], endStream: false);
        await HandlerProbe.Within(rig.Probe["/upload"].Reached.Task, "the upload handler reading the first bytes");
        await HandlerProbe.Within(rig.Probe["/running"].Reached.Task, "the running handler streaming");
        await rig.Transport.Reader.WaitForConsumedAsync(client.BytesSent);

        await rig.InjectAsync(how);

        await rig.AssertConnectionEndedAsync(Promptly);
        await rig.Probe.AssertAbortedAsync("/upload", "/running");
        HandlerProbe.Request upload = rig.Probe["/upload"];
        Assert.False(upload.BodyEnded, "a request body cut short by the transport was read as complete");
        Assert.NotNull(upload.Failure);
        Assert.False(upload.Failure is OperationCanceledException, "the body read only ended when the handler's own timeout cancelled it");
        rig.AssertNoLeftovers();
    }

    // ---- The transport failing mid response body ----

    [Theory]
    [InlineData(Vanish.ReadThrows)]
    [InlineData(Vanish.ReadThrowsSynchronously)]
    [InlineData(Vanish.ReadEnds)]
    [InlineData(Vanish.WriteThrows)]
    [InlineData(Vanish.WriteThrowsSynchronously)]
    [InlineData(Vanish.WriteEnds)]
    [InlineData(Vanish.ConnectionAborted)]
    public async Task FaultMidResponseBody(Vanish how)
    {
        await using Rig rig = await Rig.ConnectAsync(StreamUntilAbortedAsync);
        Http2TestClient client = rig.Client;
        await client.SendWindowUpdateAsync(0, 1 << 30);
        await client.SendGetAsync(1, "/stream-1");
        await client.SendWindowUpdateAsync(1, 1 << 30);
        await client.SendGetAsync(3, "/stream-3");
        await client.SendWindowUpdateAsync(3, 1 << 30);
        await ReadDataAsync(client, 4 * 1024);
        await rig.Transport.Reader.WaitForConsumedAsync(client.BytesSent);

        await rig.InjectAsync(how);

        await rig.AssertConnectionEndedAsync(Promptly);
        await rig.Probe.AssertAbortedAsync("/stream-1", "/stream-3");
        rig.AssertNoLeftovers();
    }

    /// <summary>A large write goes out straight from the handler's buffer; waiting for window, it must still be released.</summary>
    [Theory]
    [InlineData(Vanish.ReadThrows)]
    [InlineData(Vanish.ReadThrowsSynchronously)]
    [InlineData(Vanish.ReadEnds)]
    [InlineData(Vanish.ConnectionAborted)]
    public async Task FaultMidALargeResponseWriteWaitingForWindow(Vanish how)
    {
        await using Rig rig = await Rig.ConnectAsync(
            async (context, request) =>
            {
                request.Reached.TrySetResult(null);
                await context.Response.Body.WriteAsync(new byte[256 * 1024]);
            },
            settings: new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1024));
        Http2TestClient client = rig.Client;
        await client.SendGetAsync(1, "/big");
        client.DecodeHeaders(await client.ExpectAsync(Http2FrameType.Headers, 1));
        await ReadDataAsync(client, 1024);
        await rig.Transport.Reader.WaitForConsumedAsync(client.BytesSent);
        Assert.False(rig.Probe["/big"].Returned.Task.IsCompleted, "the write should be waiting for window");

        await rig.InjectAsync(how);

        await rig.AssertConnectionEndedAsync(Promptly);
        await rig.Probe.AssertAbortedAsync("/big");
        rig.AssertNoLeftovers();
    }

    // ---- The transport failing during a flush that the client holds up ----

    [Theory]
    [InlineData(Vanish.WriteThrows)]
    [InlineData(Vanish.WriteEnds)]
    [InlineData(Vanish.ReadThrows)]
    [InlineData(Vanish.ReadEnds)]
    [InlineData(Vanish.ConnectionAborted)]
    public async Task FaultDuringAFlush(Vanish how)
    {
        var clock = new FakeTimeProvider();
        await using Rig rig = await Rig.ConnectAsync(
            async (context, request) =>
            {
                byte[] chunk = new byte[16 * 1024];
                for (int i = 0; i < 8; i++)
                {
                    await context.Response.Body.WriteAsync(chunk);
                    request.Reached.TrySetResult(i);
                }
            },
            clientReceiveBuffer: 16 * 1024,
            clock: clock);
        Http2TestClient client = rig.Client;
        await client.SendGetAsync(1, "/held-up");
        await HandlerProbe.Within(rig.Probe["/held-up"].Reached.Task, "the handler writing");
        // The client reads nothing more: once 16 KiB are unread, the engine's flush waits.
        await rig.Transport.Writer.WaitForPendingFlushAsync();

        await rig.InjectAsync(how);

        if (how == Vanish.ReadEnds)
        {
            // The client stopped sending but still does not read: the engine gives the closing frames 5 s, then aborts.
            await PumpClockUntilAsync(clock, client.ServerTask, TimeSpan.FromSeconds(30));
        }

        await rig.AssertConnectionEndedAsync(Promptly);
        await rig.Probe.AssertAbortedAsync("/held-up");
        rig.AssertNoLeftovers();
    }

    /// <summary>Kestrel's input pipe throws synchronously when the socket failed before the first read: nothing may be left behind.</summary>
    [Fact]
    public async Task ATransportThatFailsBeforeTheFirstReadEndsTheConnectionCleanly()
    {
        await using Rig rig = Rig.Start(
            (_, _) => Task.CompletedTask,
            alpnH2: true,
            arm: transport => transport.Reader.Fail(TransportFault.ThrowSynchronously));

        await rig.AssertConnectionEndedAsync(Promptly);
        rig.AssertNoLeftovers();
    }

    // ---- Handlers and client helpers ----

    /// <summary>Starts the response and streams a 512-byte chunk every 10 ms until the request is aborted (or a bound passes).</summary>
    private static async Task StreamUntilAbortedAsync(HttpContext context, HandlerProbe.Request request)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        bound.CancelAfter(HandlerBound);
        byte[] chunk = new byte[512];
        try
        {
            while (!bound.IsCancellationRequested)
            {
                await context.Response.Body.WriteAsync(chunk, bound.Token);
                await context.Response.Body.FlushAsync(bound.Token);
                request.Reached.TrySetResult(null);
                await Task.Delay(10, bound.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task WaitForAbortAsync(HttpContext context)
    {
        try
        {
            await Task.Delay(HandlerBound, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task WriteInPiecesAsync(HttpContext context, string piece, int count)
    {
        for (int i = 0; i < count; i++)
        {
            await context.Response.WriteAsync(piece);
            await context.Response.Body.FlushAsync();
            await Task.Delay(2);
        }
    }

    /// <summary>Advances a fake clock a second at a time until the task completes (at most <paramref name="limit"/> of fake time).</summary>
    private static async Task PumpClockUntilAsync(FakeTimeProvider clock, Task task, TimeSpan limit)
    {
        for (TimeSpan advanced = TimeSpan.Zero; advanced < limit && !task.IsCompleted; advanced += TimeSpan.FromSeconds(1))
        {
            await Task.Delay(20);
            clock.Advance(TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>Reads frames (decoding every header block, to keep HPACK in step) until one matches.</summary>
    private static async Task<ReceivedFrame> ReadUntilAsync(Http2TestClient client, Func<ReceivedFrame, bool> match)
    {
        while (true)
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            if (frame.Type == Http2FrameType.Headers)
            {
                client.DecodeHeaders(frame);
            }

            if (match(frame))
            {
                return frame;
            }
        }
    }

    /// <summary>Reads frames until at least <paramref name="bytes"/> bytes of DATA arrived, on any stream.</summary>
    private static async Task ReadDataAsync(Http2TestClient client, int bytes)
    {
        int received = 0;
        while (received < bytes)
        {
            ReceivedFrame frame = await ReadUntilAsync(client, f => f.Type == Http2FrameType.Data);
            received += frame.Payload.Length;
        }
    }

    private sealed class Outcome
    {
        public string? Status { get; set; }

        public MemoryStream Body { get; } = new();

        public bool EndStream { get; set; }

        public Http2ErrorCode? Reset { get; set; }

        public bool Ended => EndStream || Reset is not null;

        public string BodyText => Encoding.UTF8.GetString(Body.ToArray());
    }

    /// <summary>Reads until every given stream ended, with END_STREAM or RST_STREAM; frames of other streams are skipped.</summary>
    private static async Task<Dictionary<int, Outcome>> ReadOutcomesAsync(Http2TestClient client, params int[] streamIds)
    {
        var outcomes = streamIds.ToDictionary(id => id, _ => new Outcome());
        while (outcomes.Values.Any(o => !o.Ended))
        {
            ReceivedFrame frame = await client.ReadFrameAsync();
            List<KeyValuePair<string, string>>? fields = frame.Type == Http2FrameType.Headers ? client.DecodeHeaders(frame) : null;
            if (!outcomes.TryGetValue(frame.StreamId, out Outcome? outcome) || outcome.Ended)
            {
                continue;
            }

            switch (frame.Type)
            {
                case Http2FrameType.Headers:
                    outcome.Status ??= fields!.FirstOrDefault(f => f.Key == ":status").Value;
                    outcome.EndStream = frame.EndStream;
                    break;
                case Http2FrameType.Data:
                    outcome.Body.Write(frame.Payload);
                    outcome.EndStream = frame.EndStream;
                    break;
                case Http2FrameType.RstStream:
                    outcome.Reset = frame.ErrorCode;
                    break;
            }
        }

        return outcomes;
    }

    // ---- The rig: a client over a faulty transport, a probe on every handler, logs and timers counted ----

    private sealed class Rig : IAsyncDisposable
    {
        private readonly ILoggerFactory _loggerFactory;

        private Rig(Http2TestClient client, FaultyTransport transport, HandlerProbe probe, CapturingLoggerProvider logs, CountingTimeProvider time, ILoggerFactory loggerFactory)
        {
            Client = client;
            Transport = transport;
            Probe = probe;
            Logs = logs;
            Time = time;
            _loggerFactory = loggerFactory;
        }

        public Http2TestClient Client { get; }

        public FaultyTransport Transport { get; }

        public HandlerProbe Probe { get; }

        public CapturingLoggerProvider Logs { get; }

        public CountingTimeProvider Time { get; }

        public static Rig Start(
            Func<HttpContext, HandlerProbe.Request, Task> handler,
            Action<Http2ServeLoopOptions>? configure = null,
            int clientReceiveBuffer = 0,
            TimeProvider? clock = null,
            bool alpnH2 = false,
            Action<FaultyTransport>? arm = null)
        {
            var probe = new HandlerProbe();
            var logs = new CapturingLoggerProvider();
            var time = new CountingTimeProvider(clock ?? TimeProvider.System);
            ILoggerFactory loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
            FaultyTransport? transport = null;
            Http2TestClient client = Http2TestClient.Start(
                probe.Handle(handler),
                options =>
                {
                    options.TimeProvider = time;
                    configure?.Invoke(options);
                },
                alpnH2: alpnH2,
                loggerFactory: loggerFactory,
                clientReceiveBuffer: clientReceiveBuffer,
                wrapTransport: inner =>
                {
                    transport = new FaultyTransport(inner);
                    arm?.Invoke(transport);
                    return transport;
                });
            return new Rig(client, transport!, probe, logs, time, loggerFactory);
        }

        public static async Task<Rig> ConnectAsync(
            Func<HttpContext, HandlerProbe.Request, Task> handler,
            Action<Http2ServeLoopOptions>? configure = null,
            int clientReceiveBuffer = 0,
            TimeProvider? clock = null,
            params Http2Setting[] settings)
        {
            Rig rig = Start(handler, configure, clientReceiveBuffer, clock);
            await rig.Client.HandshakeAsync(settings);
            return rig;
        }

        /// <summary>Makes the transport fail the given way.</summary>
        public async Task InjectAsync(Vanish how)
        {
            switch (how)
            {
                case Vanish.ReadThrows:
                    Transport.Reader.Fail(TransportFault.Throw);
                    break;
                case Vanish.ReadThrowsSynchronously:
                    Transport.Reader.Fail(TransportFault.ThrowSynchronously);
                    // The read in flight completes normally, with the first byte of a frame header; the engine's next read throws.
                    await Client.SendRawAsync([0]);
                    break;
                case Vanish.ReadEnds:
                    Transport.Reader.Fail(TransportFault.Complete);
                    break;
                case Vanish.WriteThrows:
                    Transport.Writer.Fail(TransportFault.Throw);
                    break;
                case Vanish.WriteThrowsSynchronously:
                    Transport.Writer.Fail(TransportFault.ThrowSynchronously);
                    break;
                case Vanish.WriteEnds:
                    Transport.Writer.Fail(TransportFault.Complete);
                    break;
                case Vanish.ConnectionAborted:
                    Client.Connection.Abort(new ConnectionAbortedException("injected fault: the transport closed"));
                    break;
            }
        }

        /// <summary>The serve loop ended within the bound, and every handler that started returned and released its stream.</summary>
        public async Task AssertConnectionEndedAsync(TimeSpan within)
        {
            await HandlerProbe.Within(
                Client.ServerTask.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default),
                "the serve loop ending",
                within);
            await Probe.AssertAllFinishedAsync();
        }

        /// <summary>
        /// What a fault must not leave behind: an exception escaping to Kestrel, a timer still armed, or a transport
        /// failure reported as a failure of the serve loop itself (an Error log and GOAWAY(INTERNAL_ERROR)).
        /// </summary>
        public void AssertNoLeftovers(bool allowApplicationErrors = false)
        {
            Probe.AssertNoViolations();
            var problems = new List<string>();
            if (Time.LiveTimers != 0)
            {
                problems.Add($"the connection left {Time.LiveTimers} timer(s) armed after it ended");
            }

            if (!Client.ServerTask.IsCompletedSuccessfully)
            {
                problems.Add($"the connection middleware let an exception escape to Kestrel: {Client.ServerTask.Exception?.InnerException?.GetType().Name}: {Client.ServerTask.Exception?.InnerException?.Message}");
            }

            foreach (var entry in Logs.Entries.Where(e => e.Level >= LogLevel.Error && !(allowApplicationErrors && e.EventId.Id == 8)))
            {
                problems.Add($"the fault was logged as {entry.Level} {entry.EventId.Name}: {entry.Message}");
            }

            Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await Client.DisposeAsync();
            }
            catch (Exception)
            {
                // Each test asserts the serve loop's end itself; a second report from here would only hide the first.
            }

            _loggerFactory.Dispose();
        }
    }
}
