using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Threading.Channels;
using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.Hosting;
using H2Middleware.Hpack;
using H2Middleware.Scheduling;
using H2Middleware.Streams;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace H2Middleware.ServeLoop;

/// <summary>
/// The serve loop of one HTTP/2 connection: an actor that alone owns the connection's state (streams, windows,
/// settings, HPACK contexts, the write scheduler). Everything else — the transport's read and flush completions,
/// handlers, timers, the host — talks to it by posting a <see cref="ServeLoopMessage"/>.
/// </summary>
internal sealed partial class Http2Connection
{
    private readonly ConnectionContext _context;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly Channel<ServeLoopMessage> _messages;
    private readonly HpackDecoder _hpackDecoder;
    private readonly ResponseFieldEncoder _responseFields;
    private readonly SendQueue _sendQueue;
    private readonly StreamTurn _streamTurn;
    private readonly WritePass _writePass;
    private readonly Dictionary<int, StreamEntry> _streams = [];
    private readonly ConnectionPort _port;
    private readonly RequestFieldSink _requestFields;
    private readonly TimeProvider _time;
    private int _streamsServed;
    private bool _stopped;
    private bool _closing;
    // Streams above this id are ignored: the client knows from our GOAWAY that they were not processed (RFC 9113 §6.8).
    private int _goAwayLastStreamId = Http2Limits.MaxStreamId;
    private bool _transportGone;

    public Http2Connection(ConnectionContext context, Http2ServeLoopOptions options, StreamApplication application, ILogger logger)
    {
        _context = context;
        _input = context.Transport.Input;
        _output = context.Transport.Output;
        Options = options;
        Application = application;
        Logger = logger;
        _time = options.TimeProvider;
        _messages = Channel.CreateUnbounded<ServeLoopMessage>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });
        // Strings up to 64 KiB decode (and make a 431 when over the list limit); only longer ones are a COMPRESSION_ERROR.
        // The client may use the protocol's initial table size until it acknowledges ours (RFC 9113 §4.3.1).
        _hpackDecoder = new HpackDecoder(Http2Limits.DefaultHeaderTableSize, options.MaxRequestHeaderListSize, Math.Max(options.MaxRequestHeaderListSize, 64 * 1024));
        _responseFields = new ResponseFieldEncoder(_time);
        _sendQueue = new SendQueue(options.WriteSchedulerFactory(), this);
        var frameOutput = new FrameOutput(_output, logger, context.ConnectionId);
        _streamTurn = new StreamTurn(frameOutput, _responseFields, _sendQueue.ConnectionWindow, this);
        _writePass = new WritePass(frameOutput, _sendQueue, _streamTurn, () => Post(new ServeLoopMessage(ServeLoopMessageKind.FlushCompleted)));
        _requestFields = new RequestFieldSink(new HeaderStringCache());
        _port = new ConnectionPort(
            _messages.Writer,
            context.ConnectionId,
            context.Features,
            context.LocalEndPoint,
            context.RemoteEndPoint,
            context.Features.Get<IMemoryPoolFeature>()?.MemoryPool ?? MemoryPool<byte>.Shared,
            options,
            application,
            logger);
        _connectionReceiveWindow = new InboundWindow(options.InitialConnectionWindowSize);
        _closedStreams = new ClosedStreams(Math.Clamp(2 * options.MaxStreamsPerConnection, 64, 4096));
        _clientErrors = new ClientErrorBudget(options.ClientErrorBudget);
        _controlFrameRate = new ControlFrameRateLimit(_time);
        _onReadCompleted = () => Post(new ServeLoopMessage(ServeLoopMessageKind.ReadCompleted));
    }

    public Http2ServeLoopOptions Options { get; }

    public StreamApplication Application { get; }

    public ILogger Logger { get; }

    public string ConnectionId => _context.ConnectionId;

    /// <summary>Hands a message to the serve loop. Safe from any thread; ignored once the loop has stopped.</summary>
    public void Post(in ServeLoopMessage message) => _messages.Writer.TryWrite(message);

    /// <summary>Serves the connection until it closes. The client preface has not been read yet.</summary>
    public async Task RunAsync()
    {
        Http2Log.ConnectionStarted(Logger, ConnectionId);
        using var shutdownRegistration = RegisterHostShutdown();
        using var abortRegistration = _context.ConnectionClosed.Register(
            static state => ((Http2Connection)state!).Post(new ServeLoopMessage(ServeLoopMessageKind.ConnectionAborted)), this);
        ChannelReader<ServeLoopMessage> messages = _messages.Reader;
        try
        {
            StartTimers();
            QueueInitialSettings();
            if (TlsRequirements.FindInadequacy(_context.Features.Get<ITlsHandshakeFeature>()) is { } inadequacy)
            {
                FailConnection(Http2ErrorCode.InadequateSecurity, inadequacy);
            }

            StartRead();
            while (!_stopped)
            {
                DoPendingWork(messages);
                // A failure may have queued GOAWAY after the write pass: it is written before the loop sleeps.
                if (_stopped || messages.TryPeek(out _) || (_writePass.HasControlFrames && !_writePass.FlushInFlight))
                {
                    continue;
                }

                await messages.WaitToReadAsync();
            }
        }
        finally
        {
            await ShutDownAsync();
            Http2Log.ConnectionStopped(Logger, ConnectionId, _streamsServed);
        }
    }

    /// <summary>
    /// Handles the queued messages, then runs a write pass. This is the loop's one error boundary: a connection error
    /// raised by any of its work (a frame, a handler's message, a timer, a write pass) ends the connection with GOAWAY,
    /// and so, as INTERNAL_ERROR, does any other exception.
    /// </summary>
    private void DoPendingWork(ChannelReader<ServeLoopMessage> messages)
    {
        try
        {
            while (!_stopped && messages.TryRead(out ServeLoopMessage message))
            {
                Process(message);
            }

            if (!_stopped)
            {
                WriteFrames();
            }
        }
        catch (Http2ConnectionException error)
        {
            FailConnection(error.ErrorCode, error.Message);
        }
        catch (Exception exception)
        {
            Http2Log.ServeLoopFailed(Logger, ConnectionId, exception);
            FailConnection(Http2ErrorCode.InternalError, "the serve loop failed");
        }
    }

    private void Process(in ServeLoopMessage message)
    {
        switch (message.Kind)
        {
            case ServeLoopMessageKind.ReadCompleted:
                OnReadCompleted();
                break;
            case ServeLoopMessageKind.FlushCompleted:
                OnFlushCompleted();
                break;
            case ServeLoopMessageKind.TimerFired:
                OnTimerFired((ServeLoopTimer)message.Value);
                break;
            case ServeLoopMessageKind.ShutdownRequested:
                StartGracefulShutdown();
                break;
            case ServeLoopMessageKind.ConnectionAborted:
                Abort("the transport closed");
                break;
            default:
                // A message about a stream whose entry has been recycled is about a stream that no longer exists.
                if (_streams.TryGetValue(message.StreamId, out StreamEntry? stream))
                {
                    ProcessStreamMessage(stream, message);
                }

                break;
        }
    }

    private void ProcessStreamMessage(StreamEntry stream, in ServeLoopMessage message)
    {
        switch (message.Kind)
        {
            case ServeLoopMessageKind.StreamOutputReady:
                _sendQueue.Evaluate(stream);
                break;
            case ServeLoopMessageKind.StreamBodyConsumed:
                OnStreamBodyConsumed(stream, message.Value, message.Value2);
                break;
            case ServeLoopMessageKind.StreamApplicationCompleted:
                OnStreamApplicationCompleted(stream);
                break;
            case ServeLoopMessageKind.StreamResetByApplication:
                OnStreamResetByApplication(stream, message.ErrorCode);
                break;
            case ServeLoopMessageKind.StreamPriorityChanged:
                OnStreamPriorityChanged(stream);
                break;
            case ServeLoopMessageKind.StreamAbortDelivered:
                OnStreamAbortDelivered(stream);
                break;
        }
    }

    private IDisposable? RegisterHostShutdown()
    {
        var lifetime = _context.Features.Get<IConnectionLifetimeNotificationFeature>();
        return lifetime?.ConnectionClosedRequested.Register(
            static state => ((Http2Connection)state!).Post(new ServeLoopMessage(ServeLoopMessageKind.ShutdownRequested)), this);
    }

    /// <summary>Fails the connection with GOAWAY (RFC 9113 §5.4.1) and closes it once the GOAWAY is flushed.</summary>
    private void FailConnection(Http2ErrorCode errorCode, string reason)
    {
        if (_closing)
        {
            return;
        }

        _stopReading = true;
        _lingerBeforeClose = true;
        // A GOAWAY never raises the last-stream-id of an earlier one (RFC 9113 §6.8).
        SendGoAway(errorCode, Math.Min(_highestStreamId, _goAwayLastStreamId), reason);
        AbortAllStreams(errorCode);
        BeginClosing();
        Http2Log.ConnectionError(Logger, ConnectionId, errorCode, reason);
    }

    /// <summary>Stops at once: the transport is gone or the connection must not linger.</summary>
    private void Abort(string reason)
    {
        Http2Log.TransportFailed(Logger, ConnectionId, reason, null);
        AbortAllStreams(Http2ErrorCode.Cancel);
        _stopped = true;
        _transportGone = true;
    }

    /// <summary>
    /// After the loop: aborts what is left, then keeps receiving messages until every handler has returned,
    /// so that no request outlives its connection.
    /// </summary>
    private async Task ShutDownAsync()
    {
        DisposeTimers();
        AbortAllStreams(Http2ErrorCode.Cancel);
        ChannelReader<ServeLoopMessage> messages = _messages.Reader;
        while (_runningApplications > 0)
        {
            while (messages.TryRead(out ServeLoopMessage message))
            {
                if (message.Kind == ServeLoopMessageKind.StreamApplicationCompleted)
                {
                    _runningApplications--;
                }
            }

            if (_runningApplications > 0)
            {
                await messages.WaitToReadAsync();
            }
        }

        // A flush to a transport that is gone (or to a client that stopped reading) may never complete.
        if (_writePass.FlushInFlight && !_transportGone)
        {
            try
            {
                await _writePass.PendingFlush;
            }
            catch (Exception)
            {
                // The transport failed while closing; there is nobody left to tell.
            }
        }

        if (_lingerBeforeClose && !_transportGone)
        {
            await LingerAsync(messages);
        }

        _messages.Writer.TryComplete();
        if (_readInFlight)
        {
            _input.CancelPendingRead();
        }
    }

    /// <summary>How long a connection that failed keeps reading after its GOAWAY, waiting for the client to close.</summary>
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// After a connection error our GOAWAY is out: end our side, then read and drop what the client still sends until it
    /// closes, for a moment at most. Closing a socket with unread bytes resets it, and a client can lose our GOAWAY to
    /// that reset before reading it (a client still sending its preface when TLS is refused, say).
    /// </summary>
    private async Task LingerAsync(ChannelReader<ServeLoopMessage> messages)
    {
        using var linger = new CancellationTokenSource(LingerTimeout);
        using CancellationTokenRegistration cancelRead = linger.Token.Register(static input => ((PipeReader)input!).CancelPendingRead(), _input);
        try
        {
            await _output.CompleteAsync();
            while (true)
            {
                ReadResult result;
                if (_readInFlight)
                {
                    // The pending read reports to the loop's channel: wait for that report.
                    while (!messages.TryRead(out ServeLoopMessage message) || message.Kind != ServeLoopMessageKind.ReadCompleted)
                    {
                        await messages.WaitToReadAsync();
                    }

                    _readInFlight = false;
                    result = _pendingRead.GetAwaiter().GetResult();
                }
                else
                {
                    result = await _input.ReadAsync();
                }

                _input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (Exception)
        {
            // The transport failed while we waited for the client: it is closed either way.
        }
    }
}
