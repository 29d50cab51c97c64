using System.Buffers.Binary;
using H2Middleware.Frames;
using H2Middleware.Tests.ServeLoop.Harness;

namespace H2Middleware.Tests.Fuzzing;

/// <summary>A broken invariant: the message says which one and what was seen.</summary>
internal sealed class FuzzViolation(string invariant, string detail, Exception? inner = null) : Exception($"{invariant}: {detail}", inner)
{
    public string Invariant { get; } = invariant;

    /// <summary>What the server sent, in order, for the failure report.</summary>
    public IReadOnlyList<string> ServerFrames { get; set; } = [];
}

/// <summary>
/// Plays one session against the real middleware and serve loop over the in-memory harness and checks:
/// (a) the server task never faults; (b) after the session, the server either closes the connection or answers our
/// PING within <see cref="ProbeTimeout"/>; (c) once the client disposes, the serve loop stops within the harness's
/// timeout; and every frame the server sends parses and respects the protocol (see <see cref="ServerFrameChecker"/>).
/// Returns how the session ended, for the run's statistics.
/// </summary>
internal static class FuzzRunner
{
    /// <summary>"fuzzPING": the probe's payload. Generated PINGs could collide with it only with probability 2^-64.</summary>
    public const ulong ProbePayload = 0x66757A7A_50494E47;

    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    public static async Task<string> RunAsync(FuzzSession session)
    {
        var transcript = new List<string>();
        try
        {
            return await RunAsync(session, transcript);
        }
        catch (FuzzViolation violation)
        {
            violation.ServerFrames = transcript;
            throw;
        }
    }

    private static async Task<string> RunAsync(FuzzSession session, List<string> transcript)
    {
        EncodedSession encoded = session.Encode();
        byte[] bytes = encoded.Bytes;
        // A frame cut short at the end would swallow the probe: it is completed (with zeros) before the probe, and the
        // server sees the completed frame, so the checker must too.
        byte[] filler = session.End == EndMode.CloseSending ? [] : CompletionFiller(bytes, session.Config.MaxFrameSize);
        var checker = new ServerFrameChecker([.. bytes, .. filler], transcript);
        var log = new OutcomeLog();
        Http2TestClient client = Http2TestClient.Start(FuzzApplication.HandleAsync, session.Config.Apply, loggerFactory: log, clientReceiveBuffer: session.Config.ClientReceiveBuffer);
        string outcome;
        try
        {
            foreach (Chunk chunk in encoded.Chunks)
            {
                await client.SendRawAsync(bytes.AsSpan(chunk.Offset, chunk.Length).ToArray());
                if (chunk.DelayMs > 0)
                {
                    await Task.Delay(chunk.DelayMs);
                }

                if (chunk.ShutdownAfter)
                {
                    client.Connection.RequestClose();
                }
            }

            if (session.End == EndMode.CloseSending)
            {
                await client.CloseSendingAsync();
                outcome = await AwaitCloseAsync(client, checker);
            }
            else
            {
                if (filler.Length > 0)
                {
                    await client.SendRawAsync(filler);
                }

                await client.SendPingAsync(ProbePayload);
                outcome = await AwaitProbeAsync(client, checker);
            }
        }
        catch (Exception error) when (error is not FuzzViolation)
        {
            await DisposeQuietlyAsync(client);
            throw Classify(client, error, "while the session ran");
        }

        try
        {
            await client.DisposeAsync();
        }
        catch (Exception error)
        {
            throw Classify(client, error, "while the client disposed");
        }

        // The server has stopped and completed its output: every frame it left must still parse and make sense.
        try
        {
            while (await client.TryReadFrameAsync(TimeSpan.FromSeconds(5)) is { } frame)
            {
                checker.Check(frame);
            }
        }
        catch (Exception error) when (error is not FuzzViolation)
        {
            throw Classify(client, error, "reading the server's last frames");
        }

        return outcome + (checker.GoAwayCode is { } code ? $" after GOAWAY({code})" : string.Empty) + (log.Reason is { } reason ? $": {reason}" : string.Empty);
    }

    private static async Task<string> AwaitProbeAsync(Http2TestClient client, ServerFrameChecker checker)
    {
        DateTime deadline = DateTime.UtcNow + ProbeTimeout;
        while (true)
        {
            TimeSpan remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                throw new TimeoutException();
            }

            ReceivedFrame? frame = await client.TryReadFrameAsync(remaining);
            if (frame is null)
            {
                return "closed";
            }

            checker.Check(frame);
            if (frame.Type == Http2FrameType.Ping && frame.IsAck && frame.PingData == ProbePayload)
            {
                return "answered the probe";
            }
        }
    }

    /// <summary>After the client's FIN the server has nothing more to read: it must finish and close.</summary>
    private static async Task<string> AwaitCloseAsync(Http2TestClient client, ServerFrameChecker checker)
    {
        DateTime deadline = DateTime.UtcNow + ProbeTimeout;
        while (true)
        {
            TimeSpan remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                throw new FuzzViolation("(b) no close", $"the server did not close the connection within {ProbeTimeout.TotalSeconds:0} s of the client's FIN");
            }

            ReceivedFrame? frame;
            try
            {
                frame = await client.TryReadFrameAsync(remaining);
            }
            catch (TimeoutException)
            {
                continue;
            }

            if (frame is null)
            {
                return "closed after FIN";
            }

            checker.Check(frame);
        }
    }

    private static FuzzViolation Classify(Http2TestClient client, Exception error, string when)
    {
        if (client.ServerTask.IsFaulted)
        {
            Exception fault = client.ServerTask.Exception!.GetBaseException();
            return new FuzzViolation("(a) the server task faulted", $"{when}: {fault.GetType().Name}: {fault.Message}", fault);
        }

        return error switch
        {
            FuzzViolation violation => violation,
            TimeoutException => new FuzzViolation("(b) no answer", $"the server neither answered our PING nor closed the connection within {ProbeTimeout.TotalSeconds:0} s", error),
            Xunit.Sdk.XunitException when error.Message.Contains("did not stop", StringComparison.Ordinal) =>
                new FuzzViolation("(c) hang", $"the serve loop did not stop within {Http2TestClient.DefaultTimeout.TotalSeconds:0} s of the client disposing", error),
            Xunit.Sdk.XunitException => new FuzzViolation("invalid frame", $"{when}: {error.Message}", error),
            _ => new FuzzViolation("(a) unexpected exception", $"{when}: {error.GetType().Name}: {error.Message}", error),
        };
    }

    private static async Task DisposeQuietlyAsync(Http2TestClient client)
    {
        try
        {
            await client.DisposeAsync();
        }
        catch (Exception)
        {
            // Already failing; the first error is the one to report.
        }
    }

    /// <summary>
    /// Zero bytes that complete a frame the session cut short, as the server frames the stream (preface, then 9-octet
    /// headers and their declared lengths). Empty when the stream ends on a frame boundary, or the server stops
    /// reading before the end anyway (no preface, or a frame above its SETTINGS_MAX_FRAME_SIZE).
    /// </summary>
    public static byte[] CompletionFiller(byte[] bytes, int serverMaxFrameSize)
    {
        ReadOnlySpan<byte> preface = Http2Limits.ClientPreface;
        if (bytes.Length < preface.Length || !bytes.AsSpan(0, preface.Length).SequenceEqual(preface))
        {
            return [];
        }

        long position = preface.Length;
        Span<byte> header = stackalloc byte[Http2FrameHeader.Size];
        while (position < bytes.Length)
        {
            header.Clear();
            int available = (int)Math.Min(Http2FrameHeader.Size, bytes.Length - position);
            bytes.AsSpan((int)position, available).CopyTo(header);
            int length = (header[0] << 16) | (header[1] << 8) | header[2];
            if (available < Http2FrameHeader.Size)
            {
                // Only the header's zero-filled rest is certain; past it, a too-large length ends the connection.
                int headerRest = Http2FrameHeader.Size - available;
                return new byte[headerRest + (length <= serverMaxFrameSize ? length : 0)];
            }

            if (length > serverMaxFrameSize)
            {
                return [];
            }

            position += Http2FrameHeader.Size + length;
        }

        return new byte[position - bytes.Length];
    }
}

/// <summary>Remembers why the server ended the connection (its connection-error and hand-off log lines), for the statistics.</summary>
internal sealed class OutcomeLog : Microsoft.Extensions.Logging.ILoggerFactory, Microsoft.Extensions.Logging.ILogger
{
    public string? Reason { get; private set; }

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Debug;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Id is 7 or 11 or 12 && Reason is null)
        {
            string message = formatter(state, exception);
            int colon = message.IndexOf(':', StringComparison.Ordinal);
            Reason = eventId.Id switch
            {
                11 => "handed to Kestrel",
                12 => "timed out (" + message[(message.IndexOf("out:", StringComparison.Ordinal) + 5)..].TrimEnd('.') + ")",
                _ => colon >= 0 ? message[(colon + 2)..] : message,
            };
        }
    }
}

/// <summary>
/// Checks each frame the server sends against what a conforming server may send this client, from the bytes the
/// client actually sent: no push; responses only on odd client streams, HEADERS before DATA, nothing after the
/// stream ended; trailers end the stream; no new stream after a GOAWAY and GOAWAY's last-stream-id never rising; frames
/// within the largest SETTINGS_MAX_FRAME_SIZE the client announced; DATA within every window the client could have granted.
/// </summary>
internal sealed class ServerFrameChecker
{
    private readonly int _maxFrameSize = Http2Limits.DefaultMaxFrameSize;
    private readonly long _maxInitialWindow = Http2Limits.DefaultInitialWindowSize;
    private readonly long _connectionCredit = Http2Limits.DefaultInitialWindowSize;
    private readonly Dictionary<int, long> _streamCredit = [];
    private readonly Dictionary<int, long> _dataSent = [];
    private readonly HashSet<int> _headersSent = [];
    private readonly int _highestClientStream;
    private readonly HashSet<int> _ended = [];
    private long _connectionDataSent;
    private int? _goAwayLastStreamId;

    private readonly List<string> _transcript;

    public ServerFrameChecker(byte[] clientBytes, List<string> transcript)
    {
        _transcript = transcript;
        // Upper bounds over every frame the client sent, as if the server processed them all: a correct server never
        // sends more than the credit those frames give, whatever it did with them.
        if (clientBytes.Length < Http2Limits.ClientPreface.Length)
        {
            return;
        }

        int position = Http2Limits.ClientPreface.Length;
        while (position + Http2FrameHeader.Size <= clientBytes.Length)
        {
            ReadOnlySpan<byte> header = clientBytes.AsSpan(position, Http2FrameHeader.Size);
            int length = (header[0] << 16) | (header[1] << 8) | header[2];
            var type = (Http2FrameType)header[3];
            int streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(header[5..]) & 0x7FFF_FFFF);
            if (position + Http2FrameHeader.Size + length > clientBytes.Length)
            {
                break;
            }

            ReadOnlySpan<byte> payload = clientBytes.AsSpan(position + Http2FrameHeader.Size, length);
            if (type == Http2FrameType.Settings && (header[4] & 0x1) == 0)
            {
                for (int i = 0; i + 6 <= payload.Length; i += 6)
                {
                    var parameter = (Http2SettingsParameter)BinaryPrimitives.ReadUInt16BigEndian(payload[i..]);
                    uint value = BinaryPrimitives.ReadUInt32BigEndian(payload[(i + 2)..]);
                    if (parameter == Http2SettingsParameter.MaxFrameSize && value <= Http2Limits.MaxAllowedFrameSize)
                    {
                        _maxFrameSize = Math.Max(_maxFrameSize, (int)value);
                    }
                    else if (parameter == Http2SettingsParameter.InitialWindowSize)
                    {
                        _maxInitialWindow = Math.Max(_maxInitialWindow, value);
                    }
                }
            }
            else if (type == Http2FrameType.Headers)
            {
                _highestClientStream = Math.Max(_highestClientStream, streamId);
            }
            else if (type == Http2FrameType.WindowUpdate && length == 4)
            {
                long increment = BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7FFF_FFFF;
                if (streamId == 0)
                {
                    _connectionCredit += increment;
                }
                else
                {
                    _streamCredit[streamId] = _streamCredit.GetValueOrDefault(streamId) + increment;
                }
            }

            position += Http2FrameHeader.Size + length;
        }
    }

    /// <summary>The error code of the server's last GOAWAY, if it sent one.</summary>
    public Http2ErrorCode? GoAwayCode { get; private set; }

    public void Check(ReceivedFrame frame)
    {
        _transcript.Add(Describe(frame));
        int id = frame.StreamId;
        if (frame.Payload.Length > _maxFrameSize)
        {
            Fail($"{frame} is larger than the client's SETTINGS_MAX_FRAME_SIZE ({_maxFrameSize})");
        }

        switch (frame.Type)
        {
            case Http2FrameType.PushPromise:
                Fail($"the server pushed: {frame}");
                break;
            case Http2FrameType.Headers:
                if (id == 0 || (id & 1) == 0)
                {
                    Fail($"response HEADERS on a stream the client cannot have opened: {frame}");
                }

                if (_ended.Contains(id))
                {
                    Fail($"HEADERS after the server ended or reset stream {id}: {frame}");
                }

                bool first = _headersSent.Add(id);
                if (!first && !frame.EndStream)
                {
                    Fail($"trailers without END_STREAM: {frame}");
                }

                if (first && _goAwayLastStreamId is { } last && id > last)
                {
                    Fail($"a response on stream {id}, above the last-stream-id {last} of the server's GOAWAY");
                }

                break;
            case Http2FrameType.Data:
                if (!_headersSent.Contains(id))
                {
                    Fail($"DATA before HEADERS: {frame}");
                }

                if (_ended.Contains(id))
                {
                    Fail($"DATA after the server ended or reset stream {id}: {frame}");
                }

                long sent = _dataSent[id] = _dataSent.GetValueOrDefault(id) + frame.Payload.Length;
                _connectionDataSent += frame.Payload.Length;
                long streamCredit = _maxInitialWindow + _streamCredit.GetValueOrDefault(id);
                if (sent > streamCredit)
                {
                    Fail($"{sent} DATA octets on stream {id}, more than the client ever allowed ({streamCredit})");
                }

                if (_connectionDataSent > _connectionCredit)
                {
                    Fail($"{_connectionDataSent} DATA octets on the connection, more than the client ever allowed ({_connectionCredit})");
                }

                break;
            case Http2FrameType.RstStream:
                if (id == 0)
                {
                    Fail($"RST_STREAM on stream 0: {frame}");
                }

                if (id > _highestClientStream)
                {
                    // RFC 9113 §6.4: RST_STREAM MUST NOT be sent for a stream in the "idle" state. A stream above every
                    // id the client ever used in HEADERS was idle all along (§5.1.1: lower ones become closed).
                    Fail($"RST_STREAM on stream {id}, which the client never opened (idle): {frame}");
                }

                _ended.Add(id);
                return;
            case Http2FrameType.GoAway:
                if (_goAwayLastStreamId is { } previous && frame.LastStreamId > previous)
                {
                    Fail($"a second GOAWAY raised the last-stream-id from {previous} to {frame.LastStreamId}");
                }

                _goAwayLastStreamId = frame.LastStreamId;
                GoAwayCode = frame.ErrorCode;
                return;
        }

        if (frame.EndStream)
        {
            _ended.Add(id);
        }
    }

    private static void Fail(string detail) => throw new FuzzViolation("protocol", detail);

    private static string Describe(ReceivedFrame frame)
    {
        string text = $"{SessionWriter.TypeName((byte)frame.Type)} flags={SessionWriter.FlagNames((byte)frame.Type, (byte)frame.Flags)} stream={frame.StreamId}" +
            (frame.Type is Http2FrameType.Data or Http2FrameType.Headers or Http2FrameType.Continuation ? $" len={frame.Payload.Length}" : string.Empty);
        return frame.Type switch
        {
            Http2FrameType.RstStream => $"{text} {frame.ErrorCode}",
            Http2FrameType.GoAway => $"{text} last={frame.LastStreamId} {frame.ErrorCode}",
            Http2FrameType.WindowUpdate => $"{text} +{frame.WindowSizeIncrement}",
            Http2FrameType.Ping => $"{text} 0x{frame.PingData:x16}",
            Http2FrameType.Settings => $"{text} [{string.Join(", ", frame.Settings.Select(s => $"{s.Parameter}={s.Value}"))}]",
            _ => text,
        };
    }
}
