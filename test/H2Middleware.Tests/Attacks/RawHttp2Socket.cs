using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using H2Middleware.Frames;
using H2Middleware.Hpack;

namespace H2Middleware.Tests.Attacks;

/// <summary>
/// An attacker's HTTP/2 client over a real TCP socket to 127.0.0.1: it writes whatever frames it is told to, and a
/// background loop reads the server's frames and records what matters to an attack — GOAWAY, RST_STREAM, responses,
/// and whether and when the server closed the connection. Sends never throw: once the server is gone they return false.
/// </summary>
internal sealed class RawHttp2Socket : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    // Made when first needed: an attack opens hundreds of connections, and their memory counts in what the tests measure.
    private HpackEncoder? _encoder;
    private HpackDecoder? _decoder;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TaskCompletionSource _cutOff = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _settingsAcked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cutOffToken = new();
    private readonly ConcurrentDictionary<Http2FrameType, int> _framesByType = new();
    private readonly StatusSink _statusSink = new();
    private readonly TaskCompletionSource _readLoopDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _sendFailed;
    private int _disposed;

    private RawHttp2Socket(Socket socket, bool read)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        // The read loop's task is not kept: a finished task holds its method's locals (the buffer) for as long as it is referenced.
        if (read)
        {
            _ = Task.Run(ReadLoopAsync);
        }
        else
        {
            _readLoopDone.SetResult();
        }
    }

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/>. A client that does not read leaves every server frame unread.</summary>
    public static async Task<RawHttp2Socket> ConnectAsync(int port, bool read = true)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token);
        return new RawHttp2Socket(socket, read);
    }

    /// <summary>Acknowledge the server's SETTINGS as they arrive (a client that never does is cut off with SETTINGS_TIMEOUT).</summary>
    public bool AutoAckSettings { get; set; } = true;

    /// <summary>The first GOAWAY the server sent, if any.</summary>
    public GoAwayRecord? GoAway { get; private set; }

    /// <summary>Every RST_STREAM the server sent, in order.</summary>
    public ConcurrentQueue<(int StreamId, Http2ErrorCode ErrorCode)> Resets { get; } = new();

    /// <summary>The :status of each response the server began, by stream.</summary>
    public ConcurrentDictionary<int, string> Responses { get; } = new();

    /// <summary>Set if the server sent a frame this client could not parse.</summary>
    public string? ServerFrameError { get; private set; }

    /// <summary>When the server closed (or reset) the connection, since this client connected; null if it did not before we closed it.</summary>
    public TimeSpan? ClosedAt { get; private set; }

    /// <summary>When the server's GOAWAY arrived, since this client connected.</summary>
    public TimeSpan? GoAwayAt { get; private set; }

    /// <summary>True once the server sent a GOAWAY with an error, or closed the connection.</summary>
    public bool IsCutOff => _cutOff.Task.IsCompleted;

    public bool IsClosed => _closed.Task.IsCompleted;

    /// <summary>False once a send failed (the server reset or closed the connection).</summary>
    public bool CanSend => !_sendFailed;

    public int FramesReceived(Http2FrameType type) => _framesByType.GetValueOrDefault(type);

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Sends the preface and a SETTINGS frame, and waits for the server's SETTINGS to be acknowledged by us.</summary>
    public async Task HandshakeAsync(params Http2Setting[] settings)
    {
        // In one write: our ack of the server's SETTINGS must not overtake our own SETTINGS.
        await SendAsync(w =>
        {
            w.Write(Http2Limits.ClientPreface);
            Http2FrameWriter.WriteSettings(w, settings);
        });
        await _settingsAcked.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    public Task<bool> SendPrefaceAsync() => SendRawAsync(Http2Limits.ClientPreface.ToArray());

    /// <summary>Encodes frames into one buffer and writes it in one go.</summary>
    public Task<bool> SendAsync(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return SendRawAsync(buffer.WrittenMemory);
    }

    public async Task<bool> SendRawAsync(ReadOnlyMemory<byte> bytes)
    {
        if (_sendFailed)
        {
            return false;
        }

        await _sendLock.WaitAsync();
        try
        {
            // A write the server does not read blocks; it gives up once the server has cut us off.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_cutOffToken.Token);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await _stream.WriteAsync(bytes, timeout.Token);
            return true;
        }
        catch (Exception exception) when (exception is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            _sendFailed = true;
            return false;
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>A request header block encoded with this connection's HPACK context (send blocks in the order they are made).</summary>
    public byte[] RequestBlock(string method, string path, params (string Name, string Value)[] extra)
    {
        var block = new ArrayBufferWriter<byte>();
        _encoder ??= new HpackEncoder();
        _encoder.BeginHeaderBlock(block);
        _encoder.EncodeHeader(":method", method, block);
        _encoder.EncodeHeader(":scheme", "http", block);
        _encoder.EncodeHeader(":authority", "127.0.0.1", block);
        _encoder.EncodeHeader(":path", path, block);
        foreach (var (name, value) in extra)
        {
            _encoder.EncodeHeader(name, value, block);
        }

        return block.WrittenSpan.ToArray();
    }

    /// <summary>Writes a request's HEADERS (and CONTINUATION frames past 16 KiB).</summary>
    public void WriteRequest(IBufferWriter<byte> output, int streamId, string method, string path, bool endStream, params (string Name, string Value)[] extra) =>
        Http2FrameWriter.WriteHeaders(output, streamId, RequestBlock(method, path, extra), endStream, Http2Limits.DefaultMaxFrameSize);

    /// <summary>Any frame, as given: for frames the frame writer will not make (CONTINUATION alone, empty HEADERS...).</summary>
    public static void WriteFrame(IBufferWriter<byte> output, Http2FrameType type, Http2FrameFlags flags, int streamId, ReadOnlySpan<byte> payload)
    {
        Span<byte> header = output.GetSpan(Http2FrameHeader.Size);
        new Http2FrameHeader(payload.Length, type, flags, streamId).Write(header);
        output.Advance(Http2FrameHeader.Size);
        output.Write(payload);
    }

    /// <summary>A header field as a literal without indexing, bytes as given: it leaves both HPACK tables untouched.</summary>
    public static void AppendLiteral(List<byte> block, string name, string value)
    {
        block.Add(0x00);
        AppendString(block, name);
        AppendString(block, value);
    }

    public static void AppendString(List<byte> block, string text)
    {
        byte[] bytes = Encoding.Latin1.GetBytes(text);
        Span<byte> length = stackalloc byte[8];
        block.AddRange(length[..HpackInteger.Encode(bytes.Length, 7, 0, length)].ToArray());
        block.AddRange(bytes);
    }

    /// <summary>Waits until the server cuts this client off (GOAWAY with an error, or a close); false if it does not in time.</summary>
    public async Task<bool> WaitForCutOffAsync(TimeSpan timeout)
    {
        try
        {
            await _cutOff.Task.WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Waits until the server closes the connection; false if it does not in time.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan timeout)
    {
        try
        {
            await _closed.Task.WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public override string ToString() =>
        $"GOAWAY {(GoAway is { } g ? $"{g.ErrorCode} \"{g.DebugData}\" at {GoAwayAt?.TotalMilliseconds:0} ms" : "none")}, " +
        $"closed {(ClosedAt is { } c ? $"at {c.TotalMilliseconds:0} ms" : "no")}, {Resets.Count} RST_STREAM, {Responses.Count} responses";

    private async Task ReadLoopAsync()
    {
        // Small, as it counts in the memory the attack tests measure; it grows for a larger frame.
        byte[] buffer = new byte[32 * 1024];
        int start = 0;
        int end = 0;
        try
        {
            while (true)
            {
                if (end == buffer.Length)
                {
                    if (start == 0)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }
                    else
                    {
                        Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                        end -= start;
                        start = 0;
                    }
                }

                int read = await _stream.ReadAsync(buffer.AsMemory(end));
                if (read == 0)
                {
                    break;
                }

                end += read;
                var unparsed = new ReadOnlySequence<byte>(buffer, start, end - start);
                Http2FrameReadStatus status;
                while ((status = Http2FrameReader.TryReadFrame(ref unparsed, Http2Limits.MaxAllowedFrameSize, out Http2Frame frame, out Http2FrameError error)) != Http2FrameReadStatus.NeedMoreData)
                {
                    if (status == Http2FrameReadStatus.ConnectionError)
                    {
                        ServerFrameError = error.Reason;
                        return;
                    }

                    OnFrame(frame);
                }

                start = end - (int)unparsed.Length;
            }
        }
        catch (Exception exception) when (exception is IOException or SocketException or ObjectDisposedException)
        {
            // A reset counts as a close.
        }
        catch (HpackDecodingException exception)
        {
            ServerFrameError = "HPACK: " + exception.Message;
        }
        finally
        {
            // Only the server's close counts, not ours.
            if (Volatile.Read(ref _disposed) == 0)
            {
                ClosedAt ??= _clock.Elapsed;
                _closed.TrySetResult();
                SetCutOff();
                // Our end goes too: the socket keeps the last read's buffer, which would count in the measured memory.
                _socket.Dispose();
            }

            _readLoopDone.TrySetResult();
        }
    }

    private void SetCutOff()
    {
        if (_cutOff.TrySetResult())
        {
            _cutOffToken.Cancel();
        }
    }

    private void OnFrame(in Http2Frame frame)
    {
        _framesByType.AddOrUpdate(frame.Type, 1, (_, count) => count + 1);
        switch (frame.Type)
        {
            case Http2FrameType.Settings when !frame.IsAck:
                if (AutoAckSettings)
                {
                    // Not awaited: a flood blocked on the send lock must not stop us reading.
                    _ = SendAsync(Http2FrameWriter.WriteSettingsAck).ContinueWith(_ => _settingsAcked.TrySetResult(), TaskScheduler.Default);
                }

                break;
            case Http2FrameType.GoAway:
                if (GoAway is null)
                {
                    GoAway = new GoAwayRecord(frame.ErrorCode, frame.LastStreamId, Encoding.ASCII.GetString(frame.Payload.ToArray()));
                    GoAwayAt = _clock.Elapsed;
                }

                if (frame.ErrorCode != Http2ErrorCode.NoError)
                {
                    SetCutOff();
                }

                break;
            case Http2FrameType.RstStream:
                Resets.Enqueue((frame.StreamId, frame.ErrorCode));
                break;
            case Http2FrameType.Headers or Http2FrameType.Continuation:
                _decoder ??= new HpackDecoder(maxHeaderListSize: 1 << 20, maxStringLength: 1 << 20);
                _decoder.Decode(frame.Payload, frame.EndHeaders, _statusSink);
                if (frame.EndHeaders && _statusSink.TakeStatus() is { } status)
                {
                    Responses.TryAdd(frame.StreamId, status);
                }

                break;
        }
    }

    /// <summary>Keeps the :status of the header block being decoded.</summary>
    private sealed class StatusSink : IHpackHeaderSink
    {
        private string? _status;

        public void OnHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            if (name.SequenceEqual(":status"u8))
            {
                _status = Encoding.ASCII.GetString(value);
            }
        }

        public string? TakeStatus()
        {
            string? status = _status;
            _status = null;
            return status;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }

        _socket.Close();
        await _readLoopDone.Task.WaitAsync(TimeSpan.FromSeconds(5));
        _stream.Dispose();
        _cutOffToken.Dispose();
    }
}

internal sealed record GoAwayRecord(Http2ErrorCode ErrorCode, int LastStreamId, string DebugData);
