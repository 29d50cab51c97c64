using H2Middleware.Frames;
using H2Middleware.Protocol;
using H2Middleware.Output;
using Microsoft.AspNetCore.Connections;

namespace H2Middleware.ServeLoop;

/// <summary>Timers, the SETTINGS handshake, keep-alive and graceful shutdown.</summary>
internal sealed partial class Http2Connection
{
    private ITimer? _prefaceTimer;
    private ITimer? _settingsAckTimer;
    private ITimer? _keepAliveTimer;
    private ITimer? _keepAlivePingTimer;
    private ITimer? _headerBlockTimer;
    private long? _headerBlockStartedAt;
    private long _lastReadAt;
    private long? _keepAlivePingSentAt;
    private ITimer? _shutdownTimer;
    private ITimer? _finalGoAwayTimer;
    private bool _finalGoAwaySent;
    private ITimer? _closeTimer;
    private int _unacknowledgedSettings;
    private bool _shuttingDown;
    private long _idleSince;

    private void StartTimers()
    {
        _prefaceTimer = CreateTimer(ServeLoopTimer.Preface, Options.PrefaceTimeout);
        _keepAliveTimer = CreateTimer(ServeLoopTimer.KeepAlive, Options.KeepAliveTimeout);
        _idleSince = _lastReadAt = _time.GetTimestamp();
        if (Options.KeepAlivePingDelay != Timeout.InfiniteTimeSpan)
        {
            _keepAlivePingTimer = CreateTimer(ServeLoopTimer.KeepAlivePing, Options.KeepAlivePingDelay);
        }
    }

    /// <summary>Called when the last open stream closes: the keep-alive clock starts from here.</summary>
    private void NoteIdle() => _idleSince = _time.GetTimestamp();

    private ITimer CreateTimer(ServeLoopTimer timer, TimeSpan dueTime) =>
        _time.CreateTimer(
            static state =>
            {
                var (connection, which) = ((Http2Connection, ServeLoopTimer))state!;
                connection.Post(new ServeLoopMessage(ServeLoopMessageKind.TimerFired, (long)which));
            },
            (this, timer),
            dueTime,
            Timeout.InfiniteTimeSpan);

    private void ArmSettingsAckTimer() => _settingsAckTimer ??= CreateTimer(ServeLoopTimer.SettingsAck, Options.SettingsAckTimeout);

    private void CancelPrefaceTimer()
    {
        _prefaceTimer?.Dispose();
        _prefaceTimer = null;
    }

    private void OnSettingsAcknowledged()
    {
        if (_unacknowledgedSettings > 0 && --_unacknowledgedSettings == 0)
        {
            _hpackDecoder.ApplyAcknowledgedTableSizeLimit(Options.HeaderTableSize);
            _settingsAckTimer?.Dispose();
            _settingsAckTimer = null;
        }
    }

    private void OnTimerFired(ServeLoopTimer timer)
    {
        switch (timer)
        {
            case ServeLoopTimer.Preface when _prefaceTimer is not null:
                Http2Log.ConnectionTimedOut(Logger, ConnectionId, "no client preface and SETTINGS");
                FailConnection(Http2ErrorCode.ProtocolError, "the client preface did not arrive in time");
                break;
            case ServeLoopTimer.SettingsAck when _settingsAckTimer is not null:
                Http2Log.ConnectionTimedOut(Logger, ConnectionId, "SETTINGS not acknowledged");
                FailConnection(Http2ErrorCode.SettingsTimeout, "the client did not acknowledge SETTINGS");
                break;
            case ServeLoopTimer.KeepAlive:
                TimeSpan idleFor = _time.GetElapsedTime(_idleSince);
                if (_openStreamCount == 0 && _runningApplications == 0 && idleFor >= Options.KeepAliveTimeout)
                {
                    Http2Log.ConnectionTimedOut(Logger, ConnectionId, "idle");
                    StartGracefulShutdown();
                }
                else
                {
                    TimeSpan next = _openStreamCount == 0 && _runningApplications == 0 ? Options.KeepAliveTimeout - idleFor : Options.KeepAliveTimeout;
                    _keepAliveTimer?.Change(next, Timeout.InfiniteTimeSpan);
                }

                break;
            case ServeLoopTimer.FinalGoAway:
                SendFinalGoAway();
                break;
            case ServeLoopTimer.KeepAlivePing:
                OnKeepAlivePingTimer();
                break;
            case ServeLoopTimer.RequestHeaders:
                OnHeaderBlockTimer();
                break;
            case ServeLoopTimer.DataRates:
                CheckDataRates();
                break;
            case ServeLoopTimer.Shutdown:
                Http2Log.ConnectionTimedOut(Logger, ConnectionId, "streams did not finish within the shutdown timeout");
                AbortAllStreams(Http2ErrorCode.Cancel);
                BeginClosing();
                break;
            case ServeLoopTimer.Close:
                // The peer will not read our last frames (CVE-2019-9517 and friends): do not wait for it any longer.
                Http2Log.ConnectionTimedOut(Logger, ConnectionId, "the closing frames could not be written");
                _context.Abort(new ConnectionAbortedException("The client did not read the connection's closing frames."));
                Abort("the client did not read the closing frames");
                break;
        }
    }

    /// <summary>A header block spans CONTINUATION frames: it must complete within the request headers timeout (slowloris).</summary>
    private void StartHeaderBlockTimer()
    {
        _headerBlockStartedAt = _time.GetTimestamp();
        if (_headerBlockTimer is null)
        {
            _headerBlockTimer = CreateTimer(ServeLoopTimer.RequestHeaders, Options.RequestHeadersTimeout);
        }
        else
        {
            _headerBlockTimer.Change(Options.RequestHeadersTimeout, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnHeaderBlockTimer()
    {
        if (_headerBlockStartedAt is not { } startedAt)
        {
            return;
        }

        TimeSpan open = _time.GetElapsedTime(startedAt);
        if (open < Options.RequestHeadersTimeout)
        {
            _headerBlockTimer?.Change(Options.RequestHeadersTimeout - open, Timeout.InfiniteTimeSpan);
            return;
        }

        Http2Log.ConnectionTimedOut(Logger, ConnectionId, "a request header block did not complete");
        FailConnection(Http2ErrorCode.EnhanceYourCalm, nameof(ConnectionEndReason.RequestHeadersTimeout));
    }

    /// <summary>The opaque data of the keep-alive PING.</summary>
    private const ulong KeepAlivePingData = 0x4832_4B45_4550_414C;

    /// <summary>
    /// Keep-alive PING (Kestrel's KeepAlivePingDelay/Timeout): after a quiet period we PING; a client that does not
    /// acknowledge within the timeout is gone, and so is the connection.
    /// </summary>
    private void OnKeepAlivePingTimer()
    {
        if (_keepAlivePingSentAt is { } sentAt)
        {
            TimeSpan waited = _time.GetElapsedTime(sentAt);
            if (waited >= Options.KeepAlivePingTimeout)
            {
                Http2Log.ConnectionTimedOut(Logger, ConnectionId, "the keep-alive PING was not acknowledged");
                _context.Abort(new ConnectionAbortedException("The client did not acknowledge the keep-alive PING."));
                Abort("the keep-alive PING was not acknowledged");
                return;
            }

            _keepAlivePingTimer?.Change(Options.KeepAlivePingTimeout - waited, Timeout.InfiniteTimeSpan);
            return;
        }

        TimeSpan quiet = _time.GetElapsedTime(_lastReadAt);
        if (quiet < Options.KeepAlivePingDelay)
        {
            _keepAlivePingTimer?.Change(Options.KeepAlivePingDelay - quiet, Timeout.InfiniteTimeSpan);
            return;
        }

        QueueControlFrame(new ControlFrame(ControlFrameKind.Ping, PingData: KeepAlivePingData));
        _keepAlivePingSentAt = _time.GetTimestamp();
        _keepAlivePingTimer?.Change(Options.KeepAlivePingTimeout, Timeout.InfiniteTimeSpan);
    }

    private void OnKeepAlivePingAcknowledged()
    {
        if (_keepAlivePingSentAt is null)
        {
            return;
        }

        _keepAlivePingSentAt = null;
        _keepAlivePingTimer?.Change(Options.KeepAlivePingDelay, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The opaque data of the PING that follows the first GOAWAY of a graceful shutdown.</summary>
    private const ulong ShutdownPingData = 0x4832_474F_4157_4159;

    /// <summary>Without the PING's ack, the final GOAWAY goes out after this long anyway.</summary>
    private static readonly TimeSpan FinalGoAwayDelay = TimeSpan.FromSeconds(1);

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
        QueueControlFrame(new ControlFrame(ControlFrameKind.Ping, PingData: ShutdownPingData));
        _finalGoAwayTimer = CreateTimer(ServeLoopTimer.FinalGoAway, FinalGoAwayDelay);
        _shutdownTimer = CreateTimer(ServeLoopTimer.Shutdown, Options.ShutdownTimeout);
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
        if (_finalGoAwaySent && _openStreamCount == 0 && _runningApplications == 0 && _headerBlock.StreamId == 0)
        {
            BeginClosing();
        }
    }

    /// <summary>
    /// From here the loop stops once what is queued has been flushed. A client that stops reading cannot hold the
    /// connection open that way: after <see cref="CloseTimeout"/> the transport is aborted.
    /// </summary>
    private void BeginClosing()
    {
        _closing = true;
        _closeTimer ??= CreateTimer(ServeLoopTimer.Close, CloseTimeout);
    }

    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    private void DisposeTimers()
    {
        _prefaceTimer?.Dispose();
        _settingsAckTimer?.Dispose();
        _keepAliveTimer?.Dispose();
        _keepAlivePingTimer?.Dispose();
        _headerBlockTimer?.Dispose();
        _dataRateTimer?.Dispose();
        _shutdownTimer?.Dispose();
        _finalGoAwayTimer?.Dispose();
        _closeTimer?.Dispose();
    }
}
