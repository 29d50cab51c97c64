using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;
using H2Middleware.Frames;
using H2Middleware.Hosting;
using H2Middleware.Hpack;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.Scheduling;
using H2Middleware.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace H2Middleware.ServeLoop;

/// <summary>
/// The serve loop of one HTTP/2 connection: an actor that alone owns the connection's state (streams, windows,
/// settings, HPACK contexts, the write scheduler). Everything else — the transport's read and flush completions,
/// handlers, timers, the host — talks to it by posting a <see cref="ServeLoopMessage"/>. This file holds the loop
/// itself: its state, the message dispatch and the error boundary, timers and the connection's end; frames and
/// streams are in <c>Http2Connection.Frames.cs</c>.
/// </summary>
internal sealed partial class Http2Connection
{
    /// <summary>How long a connection that failed keeps reading after its GOAWAY, waiting for the client to close.</summary>
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(1);

    /// <summary>How long a closing connection waits for the client to read its last frames.</summary>
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Without the PING's ack, the final GOAWAY of a graceful shutdown goes out after this long anyway.</summary>
    private static readonly TimeSpan FinalGoAwayDelay = TimeSpan.FromSeconds(1);

    /// <summary>The opaque data of the PING that follows the first GOAWAY of a graceful shutdown.</summary>
    private const ulong ShutdownPingData = 0x4832_474F_4157_4159;

    // The transport, the inbox and the loop's collaborators, each owning its own state.
    private readonly ConnectionContext _context;
    private readonly PipeWriter _output;
    private readonly ServeLoopInbox _messages;
    private readonly ConnectionPort _port;
    private readonly TimeProvider _time;
    private readonly LoopClock _clock;
    private readonly LoopTimers _timers;
    private readonly StreamTable _streams;
    private readonly HandlerSlots _handlers;
    private readonly StreamCoordinator _coordinator;
    private readonly HpackDecoder _hpackDecoder;
    private readonly HeaderBlockAssembler _headerBlocks;
    private readonly RequestBodyFlow _requestBodies;
    private readonly ResponseFieldEncoder _responseFields;
    private readonly SendQueue _sendQueue;
    private readonly ControlFrameQueue _controlFrames;
    private readonly StreamTurn _streamTurn;
    private readonly WritePass _writePass;
    private readonly DataRateMonitor _dataRates;
    private readonly IdleRelease _idleRelease;
    private readonly ControlFrameRateLimit _controlFrameRate;
    private readonly PrioritySignals _prioritySignals;
    private readonly ReadPump _reads;
    private readonly KeepAlivePing _keepAlivePing;
    private readonly ConnectionMetrics _metrics;
    private readonly ServerPush _push;

    // Frames and streams.
    private bool _stopReading;
    private bool _sawFirstSettings;
    private bool _connectionWindowGrew;
    private int _unacknowledgedSettings;
    private int _highestStreamId;
    private int _refusedBeforeSettingsAck;
    private int _peerInitialWindowSize = Http2Limits.DefaultInitialWindowSize;
    private long? _headerBlockStartedAt;
    private int _streamsServed;

    // The connection's end.
    private bool _shuttingDown;
    private bool _finalGoAwaySent;
    // Streams above this id are ignored: the client knows from our GOAWAY that they were not processed (RFC 9113 §6.8).
    private int _goAwayLastStreamId = Http2Limits.MaxStreamId;
    private bool _closing;
    private bool _lingerBeforeClose;
    private bool _stopped;
    private bool _transportGone;

    public Http2Connection(ConnectionContext context, Http2ServeLoopOptions options, StreamApplication application, ILogger logger, Http2Metrics metrics)
    {
        _context = context;
        _output = context.Transport.Output;
        Options = options;
        Logger = logger;
        _time = options.TimeProvider;
        _clock = new LoopClock(_time);
        _metrics = new ConnectionMetrics(metrics, context.Features, _time);
        _messages = new ServeLoopInbox();
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
        _timers = new LoopTimers(_time, which => Post(new ServeLoopMessage(ServeLoopMessageKind.TimerFired, (long)which)));
        _streams = new StreamTable(
            () => new StreamEntry(_port.Application.CreateStream(_port)),
            poolCapacity: options.MaxStreamsPerConnection,
            closedStreamMemory: Math.Clamp(2 * options.MaxStreamsPerConnection, 64, 4096),
            metrics: _metrics);
        // Pushed streams run handlers too: with push on, the limit grows by the push limit, so pushes do not eat the client's share.
        _handlers = new HandlerSlots(options.MaxStreamsPerConnection + (options.EnableServerPush ? options.MaxConcurrentPushes : 0), _metrics);
        // Strings up to 64 KiB decode (and make a 431 when over the list limit); only longer ones are a COMPRESSION_ERROR.
        // The client may use the protocol's initial table size until it acknowledges ours (RFC 9113 §4.3.1).
        _hpackDecoder = new HpackDecoder(Http2Limits.DefaultHeaderTableSize, options.MaxRequestHeaderListSize, Math.Max(options.MaxRequestHeaderListSize, 64 * 1024));
        var headerStrings = new HeaderStringCache();
        _headerBlocks = new HeaderBlockAssembler(_hpackDecoder, headerStrings);
        _controlFrames = new ControlFrameQueue();
        _requestBodies = new RequestBodyFlow(
            options.InitialConnectionWindowSize, options.InitialStreamWindowSize, options.MaxRequestBufferSizePerStream, _controlFrames, ReceiveWindowTuner.For(options, _clock));
        _coordinator = new StreamCoordinator(
            _streams, _handlers, _requestBodies, options.WriteSchedulerFactory(), _controlFrames,
            new ClientErrorBudget(options.ClientErrorBudget, _metrics), _clock, logger, context.ConnectionId, streamEnded: CloseIfDrained);
        _sendQueue = _coordinator.SendQueue;
        _prioritySignals = new PrioritySignals(_sendQueue.Scheduler, _streams, options.MaxStreamsPerConnection);
        _responseFields = new ResponseFieldEncoder(new HttpDate(_time, _clock));
        var frameOutput = new FrameOutput(_output, logger, context.ConnectionId, _metrics);
        _streamTurn = new StreamTurn(frameOutput, _responseFields, _sendQueue.ConnectionWindow, _coordinator);
        _push = new ServerPush(options, _port, _streams, _handlers, _coordinator, frameOutput, _responseFields);
        _writePass = new WritePass(frameOutput, _controlFrames, _push.Promises, _sendQueue, _streamTurn, _metrics, () => Post(new ServeLoopMessage(ServeLoopMessageKind.FlushCompleted)));
        _dataRates = new DataRateMonitor(_time, _streams, _requestBodies, _coordinator, _writePass, logger, context.ConnectionId);
        _idleRelease = new IdleRelease(_streams, _handlers, _coordinator, _clock, _timers, _messages, headerStrings, _hpackDecoder, _responseFields, _controlFrames);
        _controlFrameRate = new ControlFrameRateLimit(_time);
        _reads = new ReadPump(context.Transport.Input, () => Post(new ServeLoopMessage(ServeLoopMessageKind.ReadCompleted)));
        _keepAlivePing = new KeepAlivePing(_clock, options.KeepAlivePingDelay, options.KeepAlivePingTimeout);
    }

    public Http2ServeLoopOptions Options { get; }

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
                if (_stopped || messages.TryPeek(out _) || (_controlFrames.HasFrames && !_writePass.FlushInFlight))
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
        _clock.Tick();
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
                if (!_writePass.CompleteFlush(out Exception? error))
                {
                    OnTransportWriteFailed(error);
                }

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
            case ServeLoopMessageKind.StreamPushRequested:
                _push.OnRequested((Streams.PushRequest)message.Payload!, _peerInitialWindowSize);
                break;
            default:
                // A message about a stream whose entry has been recycled is about a stream that no longer exists.
                if (_streams.TryGet(message.StreamId, out StreamEntry? stream))
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
                _requestBodies.OnConsumed(stream, message.Value, message.Value2);
                break;
            case ServeLoopMessageKind.StreamApplicationCompleted:
                _coordinator.OnApplicationCompleted(stream);
                break;
            case ServeLoopMessageKind.StreamResetByApplication:
                _coordinator.OnApplicationReset(stream, message.ErrorCode);
                break;
            case ServeLoopMessageKind.StreamPriorityChanged when !stream.IsClosed:
                _sendQueue.Scheduler.OnPriorityChanged(stream);
                break;
            case ServeLoopMessageKind.StreamAbortDelivered:
                _coordinator.OnAbortDelivered(stream);
                break;
        }
    }

    private void QueueInitialSettings()
    {
        Span<Http2Setting> settings =
        [
            new(Http2SettingsParameter.MaxConcurrentStreams, (uint)Options.MaxStreamsPerConnection),
            new(Http2SettingsParameter.InitialWindowSize, (uint)Options.InitialStreamWindowSize),
            new(Http2SettingsParameter.MaxFrameSize, (uint)Options.MaxFrameSize),
            new(Http2SettingsParameter.HeaderTableSize, (uint)Options.HeaderTableSize),
            new(Http2SettingsParameter.MaxHeaderListSize, (uint)Options.MaxRequestHeaderListSize),
            new(Http2SettingsParameter.NoRfc7540Priorities, _sendQueue.Scheduler.UsesRfc7540Priorities ? 0u : 1u),
            new(Http2SettingsParameter.EnableConnectProtocol, Options.EnableExtendedConnect ? 1u : 0u),
        ];
        _writePass.WriteInitialSettings(settings, Options.InitialConnectionWindowSize - Http2Limits.DefaultInitialWindowSize);
        _unacknowledgedSettings++;
        _timers.ArmOnce(ServeLoopTimer.SettingsAck, Options.SettingsAckTimeout);
    }

    private void OnSettingsAcknowledged()
    {
        if (_unacknowledgedSettings > 0 && --_unacknowledgedSettings == 0)
        {
            _hpackDecoder.ApplyAcknowledgedTableSizeLimit(Options.HeaderTableSize);
            _timers.Cancel(ServeLoopTimer.SettingsAck);
        }
    }

    /// <summary>The loop's write pass: runs after every batch of messages.</summary>
    private void WriteFrames()
    {
        if (!_writePass.Run(streamsMayWrite: !_closing, out Exception? error))
        {
            OnTransportWriteFailed(error);
        }
        else if (_closing && !_writePass.FlushInFlight && !_controlFrames.HasFrames)
        {
            _stopped = true;
        }
    }

    private void OnTransportWriteFailed(Exception? error)
    {
        string reason = error is null ? "the transport stopped accepting writes" : "writing to the transport failed";
        if (error is not null)
        {
            Http2Log.TransportFailed(Logger, ConnectionId, reason, error);
        }

        _metrics.ConnectionLost(ConnectionEndTags.TransportFailed);
        Abort(reason);
    }

    private void StartTimers()
    {
        _timers.Arm(ServeLoopTimer.Preface, Options.PrefaceTimeout);
        _timers.Arm(ServeLoopTimer.KeepAlive, Options.KeepAliveTimeout);
        if (_keepAlivePing.Enabled)
        {
            _timers.Arm(ServeLoopTimer.KeepAlivePing, _keepAlivePing.Delay);
        }
    }

    private void OnTimerFired(ServeLoopTimer timer)
    {
        switch (timer)
        {
            case ServeLoopTimer.Preface when _timers.IsArmed(ServeLoopTimer.Preface):
                Http2Log.ConnectionTimedOut(Logger, ConnectionId, "no client preface and SETTINGS");
                FailConnection(Http2ErrorCode.ProtocolError, "the client preface did not arrive in time");
                break;
            case ServeLoopTimer.SettingsAck when _timers.IsArmed(ServeLoopTimer.SettingsAck):
                Http2Log.ConnectionTimedOut(Logger, ConnectionId, "SETTINGS not acknowledged");
                FailConnection(Http2ErrorCode.SettingsTimeout, "the client did not acknowledge SETTINGS");
                break;
            case ServeLoopTimer.KeepAlive:
                OnKeepAliveTimer();
                break;
            case ServeLoopTimer.KeepAlivePing:
                OnKeepAlivePingTimer();
                break;
            case ServeLoopTimer.RequestHeaders:
                OnHeaderBlockTimer();
                break;
            case ServeLoopTimer.DataRates:
                // Once a second while streams are open, and on until the connection has been idle for a whole second.
                if (_dataRates.Check() || !_idleRelease.TryRelease())
                {
                    _timers.Arm(ServeLoopTimer.DataRates, DataRateMonitor.Interval);
                }

                break;
            case ServeLoopTimer.FinalGoAway:
                SendFinalGoAway();
                break;
            case ServeLoopTimer.Shutdown:
                Http2Log.ConnectionTimedOut(Logger, ConnectionId, "streams did not finish within the shutdown timeout");
                _coordinator.AbortAll(Http2ErrorCode.Cancel);
                BeginClosing();
                break;
            case ServeLoopTimer.Close:
                // The peer will not read our last frames (CVE-2019-9517 and friends): do not wait for it any longer.
                Http2Log.ConnectionTimedOut(Logger, ConnectionId, "the closing frames could not be written");
                _metrics.ConnectionLost(ConnectionEndTags.CloseTimeout);
                _context.Abort(new ConnectionAbortedException("The client did not read the connection's closing frames."));
                Abort("the client did not read the closing frames");
                break;
        }
    }

    private void OnKeepAliveTimer()
    {
        bool idle = _streams.OpenCount == 0 && _handlers.Running == 0;
        TimeSpan idleFor = _time.GetElapsedTime(_coordinator.IdleSince);
        if (idle && idleFor >= Options.KeepAliveTimeout)
        {
            Http2Log.ConnectionTimedOut(Logger, ConnectionId, "idle");
            StartGracefulShutdown();
            return;
        }

        _timers.Arm(ServeLoopTimer.KeepAlive, idle ? Options.KeepAliveTimeout - idleFor : Options.KeepAliveTimeout);
    }

    private void OnKeepAlivePingTimer()
    {
        switch (_keepAlivePing.OnTimer(out TimeSpan next))
        {
            case KeepAlivePing.Step.ClientGone:
                Http2Log.ConnectionTimedOut(Logger, ConnectionId, "the keep-alive PING was not acknowledged");
                _metrics.ConnectionLost(ConnectionEndTags.KeepAlivePingTimeout);
                _context.Abort(new ConnectionAbortedException("The client did not acknowledge the keep-alive PING."));
                Abort("the keep-alive PING was not acknowledged");
                return;
            case KeepAlivePing.Step.SendPing:
                _controlFrames.Enqueue(new ControlFrame(ControlFrameKind.Ping, PingData: KeepAlivePing.Data));
                break;
        }

        _timers.Arm(ServeLoopTimer.KeepAlivePing, next);
    }

    /// <summary>A header block spans CONTINUATION frames: it must complete within the request headers timeout (slowloris).</summary>
    private void OnHeaderBlockTimer()
    {
        if (_headerBlockStartedAt is not { } startedAt)
        {
            return;
        }

        TimeSpan open = _time.GetElapsedTime(startedAt);
        if (open < Options.RequestHeadersTimeout)
        {
            _timers.Arm(ServeLoopTimer.RequestHeaders, Options.RequestHeadersTimeout - open);
            return;
        }

        Http2Log.ConnectionTimedOut(Logger, ConnectionId, "a request header block did not complete");
        FailConnection(Http2ErrorCode.EnhanceYourCalm, nameof(ConnectionEndReason.RequestHeadersTimeout));
    }

    private void StartDataRateChecks()
    {
        if (_dataRates.Start())
        {
            _timers.Arm(ServeLoopTimer.DataRates, DataRateMonitor.Interval);
        }
    }

    private IDisposable? RegisterHostShutdown()
    {
        var lifetime = _context.Features.Get<IConnectionLifetimeNotificationFeature>();
        return lifetime?.ConnectionClosedRequested.Register(
            static state => ((Http2Connection)state!).Post(new ServeLoopMessage(ServeLoopMessageKind.ShutdownRequested)), this);
    }

    /// <summary>
    /// A graceful shutdown in two GOAWAYs (RFC 9113 §6.8): the first, with last-stream-id 2^31−1, tells the client to
    /// open no more streams; a PING round trip later, when every request the client sent before it has arrived, the
    /// second names the last stream we serve. Streams up to it finish, later ones are ignored (the client may retry
    /// them elsewhere), and the connection closes once they are done or the shutdown timeout passes.
    /// </summary>
    private void StartGracefulShutdown()
    {
        if (_shuttingDown || _closing)
        {
            return;
        }

        _shuttingDown = true;
        SendGoAway(Http2ErrorCode.NoError, Http2Limits.MaxStreamId);
        _controlFrames.Enqueue(new ControlFrame(ControlFrameKind.Ping, PingData: ShutdownPingData));
        _timers.Arm(ServeLoopTimer.FinalGoAway, FinalGoAwayDelay);
        _timers.Arm(ServeLoopTimer.Shutdown, Options.ShutdownTimeout);
    }

    private void SendFinalGoAway()
    {
        if (!_shuttingDown || _finalGoAwaySent || _closing)
        {
            return;
        }

        _finalGoAwaySent = true;
        SendGoAway(Http2ErrorCode.NoError, Math.Min(_highestStreamId, _goAwayLastStreamId));
        CloseIfDrained();
    }

    /// <summary>During a graceful shutdown, closes once the final GOAWAY is out, no stream is open and no handler runs.</summary>
    private void CloseIfDrained()
    {
        if (_finalGoAwaySent && _streams.OpenCount == 0 && _handlers.Running == 0 && !_headerBlocks.IsOpen)
        {
            BeginClosing();
        }
    }

    /// <param name="debugData">Why, for the peer's diagnostics (RFC 9113 §6.8): ASCII, without anything secret.</param>
    private void SendGoAway(Http2ErrorCode errorCode, int lastStreamId, string? debugData = null)
    {
        _goAwayLastStreamId = lastStreamId;
        _controlFrames.EnqueueGoAway(errorCode, lastStreamId, debugData);
        _push.OnGoAway();
        Http2Log.GoAwaySent(Logger, ConnectionId, lastStreamId, errorCode);
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
        BeginClosing();
        _coordinator.AbortAll(errorCode);
        Http2Log.ConnectionError(Logger, ConnectionId, errorCode, reason);
        _metrics.ConnectionFailed(errorCode, reason);
    }

    /// <summary>
    /// From here the loop stops once what is queued has been flushed. A client that stops reading cannot hold the
    /// connection open that way: after <see cref="CloseTimeout"/> the transport is aborted.
    /// </summary>
    private void BeginClosing()
    {
        _closing = true;
        _controlFrames.StopOwingFrames();
        _timers.ArmOnce(ServeLoopTimer.Close, CloseTimeout);
    }

    /// <summary>Stops at once: the transport is gone or the connection must not linger.</summary>
    private void Abort(string reason)
    {
        Http2Log.TransportFailed(Logger, ConnectionId, reason, null);
        _coordinator.AbortAll(Http2ErrorCode.Cancel);
        _stopped = true;
        _transportGone = true;
    }

    /// <summary>
    /// After the loop: aborts what is left, then keeps receiving messages until every handler has returned,
    /// so that no request outlives its connection.
    /// </summary>
    private async Task ShutDownAsync()
    {
        _timers.DisposeAll();
        _coordinator.AbortAll(Http2ErrorCode.Cancel);
        ChannelReader<ServeLoopMessage> messages = _messages.Reader;
        int running = _handlers.Running;
        while (running > 0)
        {
            while (messages.TryRead(out ServeLoopMessage message))
            {
                if (message.Kind == ServeLoopMessageKind.StreamApplicationCompleted)
                {
                    running--;
                }
            }

            if (running > 0)
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
            await _reads.LingerAsync(_output, messages, LingerTimeout);
        }

        _messages.Writer.TryComplete();
        _reads.CancelPendingRead();
        _streams.ReleaseEntriesMemory();
    }
}
