using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Hosting;
using H2Middleware.Hpack;
using H2Middleware.ServeLoop;
using H2Middleware.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace H2Middleware.Tests.ServeLoop.Harness;

/// <summary>
/// A raw HTTP/2 client speaking frames over an in-memory duplex pipe to the real connection middleware and
/// serve loop, for precise protocol tests. Every wait is bounded so that a broken server fails a test instead of hanging it.
/// </summary>
internal sealed class Http2TestClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Pipe _toServer = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly Pipe _toClient;
    private readonly HpackEncoder _encoder = new();
    private readonly HpackDecoder _decoder = new(maxHeaderListSize: 1 << 20, maxStringLength: 1 << 20);
    private readonly Task _serverTask;
    // Bytes received and not yet parsed: _received[_receivedStart.._receivedEnd].
    private byte[] _received = new byte[64 * 1024];
    private int _receivedStart;
    private int _receivedEnd;
    private bool _inputCompleted;

    private long _bytesSent;

    private Http2TestClient(
        RequestDelegate handler,
        Http2ServeLoopOptions options,
        bool endpointAllowsHttp1,
        bool alpnH2,
        ILoggerFactory loggerFactory,
        int clientReceiveBuffer,
        MemoryPool<byte>? memoryPool,
        Action<IFeatureCollection>? connectionFeatures,
        Func<IDuplexPipe, IDuplexPipe>? wrapTransport,
        Http2Metrics metrics)
    {
        // A bounded receive buffer lets a test play a client that stops reading: the server's flushes then block.
        _toClient = new Pipe(new PipeOptions(pauseWriterThreshold: clientReceiveBuffer, resumeWriterThreshold: clientReceiveBuffer / 2, useSynchronizationContext: false));
        IDuplexPipe transport = new DuplexPipe(_toServer.Reader, _toClient.Writer);
        Connection = new InMemoryConnectionContext(wrapTransport?.Invoke(transport) ?? transport, alpnH2, memoryPool);
        connectionFeatures?.Invoke(Connection.Features);
        var application = new HostedStreamApplication<HttpContext>(new DelegateApplication(handler));
        var middleware = new Http2ServeLoopMiddleware(
            _ =>
            {
                PassedToNext = true;
                return Task.CompletedTask;
            },
            options,
            application,
            endpointAllowsHttp1,
            loggerFactory,
            metrics);
        _serverTask = Task.Run(async () =>
        {
            try
            {
                await middleware.OnConnectionAsync(Connection);
            }
            finally
            {
                await _toClient.Writer.CompleteAsync();
            }
        });
    }

    public InMemoryConnectionContext Connection { get; }

    /// <summary>True when the middleware handed the connection on to Kestrel's pipeline instead of serving it.</summary>
    public bool PassedToNext { get; private set; }

    public Task ServerTask => _serverTask;

    public int MaxFrameSize { get; set; } = Http2Limits.DefaultMaxFrameSize;

    /// <summary>How many bytes the client has written towards the server so far.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>How many entries the server has put in our decoder's dynamic table.</summary>
    public int DecoderDynamicTableCount => _decoder.DynamicTableCount;

    /// <param name="alpnH2">Make the connection look like TLS with ALPN h2 (no cleartext preface sniffing).</param>
    /// <param name="memoryPool">The pool the connection offers the engine (Kestrel's IMemoryPoolFeature), to measure what it holds.</param>
    /// <param name="connectionFeatures">Sets features of the connection (TLS details, say) before the engine sees it.</param>
    /// <param name="wrapTransport">Wraps the server's side of the transport, e.g. to inject faults into its reads and flushes.</param>
    /// <param name="metrics">The engine's instruments, on a test's own Meter to collect them; by default the process-wide Meter.</param>
    public static Http2TestClient Start(
        RequestDelegate handler,
        Action<Http2ServeLoopOptions>? configure = null,
        bool endpointAllowsHttp1 = true,
        bool alpnH2 = false,
        ILoggerFactory? loggerFactory = null,
        int clientReceiveBuffer = 0,
        MemoryPool<byte>? memoryPool = null,
        Action<IFeatureCollection>? connectionFeatures = null,
        Func<IDuplexPipe, IDuplexPipe>? wrapTransport = null,
        Http2Metrics? metrics = null)
    {
        var options = new Http2ServeLoopOptions();
        configure?.Invoke(options);
        return new Http2TestClient(
            handler, options, endpointAllowsHttp1, alpnH2, loggerFactory ?? NullLoggerFactory.Instance, clientReceiveBuffer, memoryPool, connectionFeatures, wrapTransport,
            metrics ?? Http2Metrics.Create(meterFactory: null));
    }

    /// <summary>Starts a client and completes the connection handshake (preface, SETTINGS both ways, acks).</summary>
    public static async Task<Http2TestClient> ConnectAsync(RequestDelegate handler, Action<Http2ServeLoopOptions>? configure = null)
    {
        Http2TestClient client = Start(handler, configure);
        await client.HandshakeAsync();
        return client;
    }

    public async Task HandshakeAsync(params Http2Setting[] settings)
    {
        await SendPrefaceAsync();
        await SendSettingsAsync(settings);
        ReceivedFrame serverSettings = await ReadFrameAsync();
        Assert.Equal(Http2FrameType.Settings, serverSettings.Type);
        Assert.False(serverSettings.IsAck);
        await SendSettingsAckAsync();
        bool sawAck = false;
        while (!sawAck)
        {
            ReceivedFrame frame = await ReadFrameAsync();
            sawAck = frame.Type == Http2FrameType.Settings && frame.IsAck;
            Assert.True(sawAck || frame.Type == Http2FrameType.WindowUpdate, $"unexpected {frame} during the handshake");
        }
    }

    // ---- Sending ----

    public Task SendPrefaceAsync() => SendRawAsync(Http2Limits.ClientPreface.ToArray());

    public Task SendSettingsAsync(params Http2Setting[] settings) => SendAsync(w => Http2FrameWriter.WriteSettings(w, settings));

    public Task SendSettingsAckAsync() => SendAsync(Http2FrameWriter.WriteSettingsAck);

    public Task SendPingAsync(ulong data, bool ack = false) => SendAsync(w => Http2FrameWriter.WritePing(w, data, ack));

    public Task SendWindowUpdateAsync(int streamId, int increment) => SendAsync(w => Http2FrameWriter.WriteWindowUpdate(w, streamId, increment));

    public Task SendRstStreamAsync(int streamId, Http2ErrorCode errorCode) => SendAsync(w => Http2FrameWriter.WriteRstStream(w, streamId, errorCode));

    public Task SendGoAwayAsync(int lastStreamId, Http2ErrorCode errorCode) => SendAsync(w => Http2FrameWriter.WriteGoAway(w, lastStreamId, errorCode, default));

    public Task SendPriorityUpdateAsync(int streamId, string value) =>
        SendAsync(w => Http2FrameWriter.WritePriorityUpdate(w, streamId, Encoding.ASCII.GetBytes(value)));

    public Task SendDataAsync(int streamId, byte[] data, bool endStream) => SendAsync(w => Http2FrameWriter.WriteData(w, streamId, data, endStream));

    public Task SendDataAsync(int streamId, string data, bool endStream) => SendDataAsync(streamId, Encoding.UTF8.GetBytes(data), endStream);

    /// <summary>Sends a request header block (split into HEADERS + CONTINUATION past the frame size).</summary>
    public Task SendHeadersAsync(int streamId, IEnumerable<KeyValuePair<string, string>> headers, bool endStream) =>
        SendAsync(w => Http2FrameWriter.WriteHeaders(w, streamId, EncodeHeaderBlock(headers), endStream, MaxFrameSize));

    public Task SendGetAsync(int streamId, string path = "/", bool endStream = true, params (string Name, string Value)[] extra) =>
        SendHeadersAsync(streamId, RequestHeaders("GET", path, extra), endStream);

    public Task SendPostAsync(int streamId, string path = "/", params (string Name, string Value)[] extra) =>
        SendHeadersAsync(streamId, RequestHeaders("POST", path, extra), endStream: false);

    public static List<KeyValuePair<string, string>> RequestHeaders(string method, string path, params (string Name, string Value)[] extra)
    {
        var headers = new List<KeyValuePair<string, string>>
        {
            new(":method", method),
            new(":scheme", "https"),
            new(":authority", "localhost"),
            new(":path", path),
        };
        foreach (var (name, value) in extra)
        {
            headers.Add(new(name, value));
        }

        return headers;
    }

    public byte[] EncodeHeaderBlock(IEnumerable<KeyValuePair<string, string>> headers)
    {
        var block = new ArrayBufferWriter<byte>();
        _encoder.BeginHeaderBlock(block);
        foreach (var (name, value) in headers)
        {
            _encoder.EncodeHeader(name, value, block);
        }

        return block.WrittenSpan.ToArray();
    }

    /// <summary>
    /// A header block of literal fields without indexing, bytes exactly as given (no lowercasing): for malformed requests.
    /// It leaves both HPACK tables untouched, so the connection's later blocks still decode.
    /// </summary>
    public static byte[] RawHeaderBlock(IEnumerable<KeyValuePair<string, string>> headers)
    {
        var block = new List<byte>();
        foreach (var (name, value) in headers)
        {
            block.Add(0x00);
            AppendRawString(block, name);
            AppendRawString(block, value);
        }

        return block.ToArray();

        static void AppendRawString(List<byte> block, string text)
        {
            byte[] bytes = Encoding.Latin1.GetBytes(text);
            Span<byte> length = stackalloc byte[8];
            block.AddRange(length[..HpackInteger.Encode(bytes.Length, 7, 0, length)].ToArray());
            block.AddRange(bytes);
        }
    }

    public Task SendRawHeadersAsync(int streamId, IEnumerable<KeyValuePair<string, string>> headers, bool endStream) =>
        SendAsync(w => Http2FrameWriter.WriteHeaders(w, streamId, RawHeaderBlock(headers), endStream, MaxFrameSize));

    /// <summary>Reads complete responses for several streams whose frames may interleave.</summary>
    public async Task<Dictionary<int, TestResponse>> ReadResponsesAsync(params int[] streamIds)
    {
        var headers = new Dictionary<int, List<KeyValuePair<string, string>>>();
        var bodies = streamIds.ToDictionary(id => id, _ => new MemoryStream());
        var trailers = new Dictionary<int, List<KeyValuePair<string, string>>>();
        var ended = new HashSet<int>();
        while (ended.Count < streamIds.Length)
        {
            ReceivedFrame frame = await ReadFrameAsync();
            if (!bodies.ContainsKey(frame.StreamId))
            {
                continue;
            }

            if (frame.Type == Http2FrameType.Headers)
            {
                (headers.ContainsKey(frame.StreamId) ? trailers : headers)[frame.StreamId] = DecodeHeaders(frame);
            }
            else if (frame.Type == Http2FrameType.Data)
            {
                bodies[frame.StreamId].Write(frame.Payload);
            }
            else if (frame.Type == Http2FrameType.RstStream)
            {
                throw new Xunit.Sdk.XunitException($"Stream {frame.StreamId} was reset with {frame.ErrorCode}.");
            }

            if (frame.EndStream)
            {
                ended.Add(frame.StreamId);
            }
        }

        return streamIds.ToDictionary(id => id, id => new TestResponse(headers[id], bodies[id].ToArray(), trailers.GetValueOrDefault(id)));
    }

    public async Task SendAsync(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        await SendRawAsync(buffer.WrittenSpan.ToArray());
    }

    public async Task SendRawAsync(byte[] bytes)
    {
        Interlocked.Add(ref _bytesSent, bytes.Length);
        await _toServer.Writer.WriteAsync(bytes);
    }

    public Task CloseSendingAsync() => _toServer.Writer.CompleteAsync().AsTask();

    // ---- Receiving ----

    /// <summary>Reads the next frame; fails the test if none arrives in time or the server closed the connection.</summary>
    public async Task<ReceivedFrame> ReadFrameAsync(TimeSpan? timeout = null)
    {
        ReceivedFrame? frame = await TryReadFrameAsync(timeout);
        return frame ?? throw new Xunit.Sdk.XunitException("The server closed the connection instead of sending a frame.");
    }

    /// <summary>Reads the next frame, or null when the server has closed the connection.</summary>
    public async Task<ReceivedFrame?> TryReadFrameAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? DefaultTimeout);
        while (true)
        {
            if (TryParse(out ReceivedFrame? parsed))
            {
                return parsed;
            }

            if (_inputCompleted)
            {
                return null;
            }

            ReadResult result;
            try
            {
                result = await _toClient.Reader.ReadAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("No frame arrived from the server in time.");
            }

            Append(result.Buffer);
            _toClient.Reader.AdvanceTo(result.Buffer.End);
            _inputCompleted = result.IsCompleted;
        }
    }

    private void Append(in ReadOnlySequence<byte> bytes)
    {
        int unparsed = _receivedEnd - _receivedStart;
        if (_received.Length - _receivedEnd < bytes.Length)
        {
            byte[] target = unparsed + bytes.Length <= _received.Length ? _received : new byte[Math.Max(2 * _received.Length, unparsed + (int)bytes.Length)];
            Buffer.BlockCopy(_received, _receivedStart, target, 0, unparsed);
            _received = target;
            _receivedStart = 0;
            _receivedEnd = unparsed;
        }

        bytes.CopyTo(_received.AsSpan(_receivedEnd));
        _receivedEnd += (int)bytes.Length;
    }

    private bool TryParse(out ReceivedFrame? frame)
    {
        var buffer = new ReadOnlySequence<byte>(_received, _receivedStart, _receivedEnd - _receivedStart);
        Http2FrameReadStatus status = Http2FrameReader.TryReadFrame(ref buffer, Http2Limits.MaxAllowedFrameSize, out Http2Frame parsed, out Http2FrameError error);
        if (status == Http2FrameReadStatus.NeedMoreData)
        {
            frame = null;
            return false;
        }

        Assert.True(status == Http2FrameReadStatus.Frame, $"The server sent an invalid frame: {error.Reason}");
        frame = ReceivedFrame.From(parsed);
        _receivedStart = _receivedEnd - (int)buffer.Length;
        return true;
    }

    /// <summary>
    /// Reads frames until one of the given type arrives on the stream, skipping WINDOW_UPDATE, PING acks and the PINGs of
    /// adaptive receive windows (left unanswered: the windows then keep their sizes).
    /// </summary>
    public async Task<ReceivedFrame> ExpectAsync(Http2FrameType type, int streamId)
    {
        while (true)
        {
            ReceivedFrame frame = await ReadFrameAsync();
            if (frame.Type == type && frame.StreamId == streamId)
            {
                return frame;
            }

            Assert.True(frame.Type is Http2FrameType.WindowUpdate || (frame.Type == Http2FrameType.Ping && frame.IsAck) || IsWindowSamplePing(frame),
                $"Expected {type} on stream {streamId} but received {frame}.");
        }
    }

    /// <summary>The PING that starts a sample of adaptive receive windows (ReceiveWindowTuner).</summary>
    public static bool IsWindowSamplePing(ReceivedFrame frame) =>
        frame.Type == Http2FrameType.Ping && !frame.IsAck && (frame.PingData & 0xFFFF_FFFF_FF00_0000) == ReceiveWindowTuner.PingDataPrefix;

    public async Task<ReceivedFrame> ExpectGoAwayAsync(Http2ErrorCode errorCode)
    {
        while (true)
        {
            ReceivedFrame frame = await ReadFrameAsync();
            if (frame.Type == Http2FrameType.GoAway)
            {
                Assert.Equal(errorCode, frame.ErrorCode);
                return frame;
            }
        }
    }

    /// <summary>
    /// Reads a graceful shutdown (RFC 9113 §6.8): GOAWAY(NO_ERROR, 2^31−1), then the server's PING, which is answered
    /// unless <paramref name="answerPing"/> is false, then the final GOAWAY, which is returned.
    /// </summary>
    public async Task<ReceivedFrame> ExpectGracefulGoAwayAsync(bool answerPing = true)
    {
        ReceivedFrame first = await ExpectGoAwayAsync(Http2ErrorCode.NoError);
        Assert.Equal(Http2Limits.MaxStreamId, first.LastStreamId);
        while (true)
        {
            ReceivedFrame frame = await ReadFrameAsync();
            if (frame.Type == Http2FrameType.Ping && !frame.IsAck)
            {
                if (answerPing)
                {
                    await SendPingAsync(frame.PingData, ack: true);
                }

                continue;
            }

            if (frame.Type == Http2FrameType.GoAway)
            {
                Assert.Equal(Http2ErrorCode.NoError, frame.ErrorCode);
                return frame;
            }

            Assert.True(frame.Type == Http2FrameType.WindowUpdate, $"unexpected {frame} between the two GOAWAYs");
        }
    }

    public async Task ExpectRstStreamAsync(int streamId, Http2ErrorCode errorCode)
    {
        ReceivedFrame frame = await ExpectAsync(Http2FrameType.RstStream, streamId);
        Assert.Equal(errorCode, frame.ErrorCode);
    }

    /// <summary>Waits until the server closes the connection (its serve loop ended); then closes ours, as a real client would.</summary>
    public async Task ExpectConnectionClosedAsync()
    {
        while (await TryReadFrameAsync() is not null)
        {
        }

        await CloseSendingAsync();
        await ServerTask.WaitAsync(DefaultTimeout);
    }

    public List<KeyValuePair<string, string>> DecodeHeaders(ReceivedFrame frame)
    {
        var sink = new CollectingSink();
        _decoder.Decode(frame.Payload, endHeaders: true, sink);
        return sink.Fields;
    }

    /// <summary>Reads a whole response on a stream: its header block, its body and its trailers.</summary>
    public async Task<TestResponse> ReadResponseAsync(int streamId)
    {
        ReceivedFrame headersFrame = await ExpectAsync(Http2FrameType.Headers, streamId);
        List<KeyValuePair<string, string>> headers = DecodeHeaders(headersFrame);
        var body = new MemoryStream();
        List<KeyValuePair<string, string>>? trailers = null;
        bool ended = headersFrame.EndStream;
        while (!ended)
        {
            ReceivedFrame frame = await ReadFrameAsync();
            if (frame.StreamId != streamId || frame.Type is Http2FrameType.WindowUpdate or Http2FrameType.Ping)
            {
                continue;
            }

            switch (frame.Type)
            {
                case Http2FrameType.Data:
                    body.Write(frame.Payload);
                    ended = frame.EndStream;
                    break;
                case Http2FrameType.Headers:
                    trailers = DecodeHeaders(frame);
                    Assert.True(frame.EndStream, "trailers must end the stream");
                    ended = true;
                    break;
                default:
                    throw new Xunit.Sdk.XunitException($"Unexpected {frame} while reading the response on stream {streamId}.");
            }
        }

        return new TestResponse(headers, body.ToArray(), trailers);
    }

    public async ValueTask DisposeAsync()
    {
        await _toServer.Writer.CompleteAsync();
        Connection.Abort(new ConnectionAbortedException("test over"));
        try
        {
            await _serverTask.WaitAsync(DefaultTimeout);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException("The serve loop did not stop after the test.");
        }
    }

    private sealed class CollectingSink : IHpackHeaderSink
    {
        public List<KeyValuePair<string, string>> Fields { get; } = [];

        public void OnHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
            Fields.Add(new(Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}

internal sealed record TestResponse(List<KeyValuePair<string, string>> Headers, byte[] Body, List<KeyValuePair<string, string>>? Trailers)
{
    public string Status => Header(":status")!;

    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name) => Headers.FirstOrDefault(h => h.Key == name).Value;
}
