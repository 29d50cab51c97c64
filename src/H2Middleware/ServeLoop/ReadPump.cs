using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;
using H2Middleware.Frames;
using H2Middleware.Protocol;

namespace H2Middleware.ServeLoop;

/// <summary>
/// The read pump: one transport read in flight at a time, its completion posted to the serve loop, which then parses
/// every complete frame of the buffer in place (no copy) and advances the reader only past what it has processed — the
/// seed's gate, without a second thread. Many frames from one read are handled in one batch. A read waits for as many
/// bytes as the loop needs to make progress (the rest of a frame it has the header of): the transport hands over at
/// most a pool block per receive, and a 16 KiB DATA frame would otherwise wake the loop four times to parse it once.
/// </summary>
internal sealed class ReadPump
{
    private readonly PipeReader _input;
    private readonly Action _onReadCompleted;
    private readonly Action _onTransportRead;
    private ValueTask<ReadResult> _pending;
    private ReadResult _result;
    private Exception? _error;
    private long _minimumLength;
    private volatile bool _resultReady;
    private volatile bool _bytesArrivedUnreported;

    public ReadPump(PipeReader input, Action onReadCompleted)
    {
        _input = input;
        _onReadCompleted = onReadCompleted;
        _onTransportRead = OnTransportRead;
    }

    public bool InFlight { get; private set; }

    public bool PrefaceReceived { get; private set; }

    /// <summary>
    /// Starts the next read, reported once the buffer holds at least <paramref name="minimumLength"/> bytes (or the
    /// transport completes, is cancelled or fails); false when the transport's receive side has already failed.
    /// </summary>
    public bool TryStart(long minimumLength, out Exception? error)
    {
        error = null;
        try
        {
            _pending = _input.ReadAsync();
        }
        catch (Exception exception)
        {
            // A transport whose receive side already failed throws at once instead of failing the read.
            error = exception;
            return false;
        }

        _minimumLength = minimumLength;
        _resultReady = false;
        InFlight = true;
        if (_pending.IsCompleted)
        {
            OnTransportRead();
        }
        else
        {
            _pending.GetAwaiter().UnsafeOnCompleted(_onTransportRead);
        }

        return true;
    }

    /// <summary>The result of the read that completed; false when the transport failed.</summary>
    public bool TryTakeResult(out ReadResult result, out Exception? error)
    {
        InFlight = false;
        result = _result;
        error = _error;
        _result = default;
        _error = null;
        return error is null;
    }

    /// <summary>
    /// Whether bytes arrived that a read kept waiting for more of since the loop last asked: the client is sending, even
    /// if no frame has completed (a large frame on a slow link).
    /// </summary>
    public bool TakeBytesArrived()
    {
        bool arrived = _bytesArrivedUnreported;
        _bytesArrivedUnreported = false;
        return arrived;
    }

    // Runs where the transport completed the read, while the loop leaves the reader to the pump (InFlight).
    private void OnTransportRead()
    {
        while (true)
        {
            try
            {
                _result = _pending.GetAwaiter().GetResult();
            }
            catch (Exception exception)
            {
                _error = exception;
                break;
            }

            if (_result.IsCompleted || _result.IsCanceled || _result.Buffer.Length >= _minimumLength)
            {
                break;
            }

            _bytesArrivedUnreported = true;
            try
            {
                _input.AdvanceTo(_result.Buffer.Start, _result.Buffer.End);
                _result = default;
                _pending = _input.ReadAsync();
            }
            catch (Exception exception)
            {
                _error = exception;
                break;
            }

            if (!_pending.IsCompleted)
            {
                _pending.GetAwaiter().UnsafeOnCompleted(_onTransportRead);
                return;
            }
        }

        _resultReady = true;
        _onReadCompleted();
    }

    public void AdvanceTo(SequencePosition consumed, SequencePosition examined) => _input.AdvanceTo(consumed, examined);

    /// <summary>Matches the 24-octet client preface (RFC 9113 §3.4) and takes it off the buffer. False when more bytes are needed.</summary>
    public bool TryReadPreface(ref ReadOnlySequence<byte> buffer)
    {
        ReadOnlySpan<byte> preface = Http2Limits.ClientPreface;
        int available = (int)Math.Min(buffer.Length, preface.Length);
        Span<byte> received = stackalloc byte[preface.Length];
        buffer.Slice(0, available).CopyTo(received);
        if (!received[..available].SequenceEqual(preface[..available]))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "invalid connection preface");
        }

        if (available < preface.Length)
        {
            return false;
        }

        buffer = buffer.Slice(preface.Length);
        PrefaceReceived = true;
        return true;
    }

    /// <summary>The loop is gone: a read still pending completes now.</summary>
    public void CancelPendingRead()
    {
        if (InFlight)
        {
            _input.CancelPendingRead();
        }
    }

    /// <summary>
    /// After a connection error our GOAWAY is out: ends our side, then reads and drops what the client still sends until
    /// it closes, for <paramref name="timeout"/> at most. Closing a socket with unread bytes resets it, and a client can
    /// lose our GOAWAY to that reset before reading it (a client still sending its preface when TLS is refused, say).
    /// </summary>
    public async Task LingerAsync(PipeWriter output, ChannelReader<ServeLoopMessage> messages, TimeSpan timeout)
    {
        using var linger = new CancellationTokenSource(timeout);
        using CancellationTokenRegistration cancelRead = linger.Token.Register(static reader => ((PipeReader)reader!).CancelPendingRead(), _input);
        try
        {
            await output.CompleteAsync();
            while (true)
            {
                ReadResult result;
                if (InFlight)
                {
                    // The pending read reports to the loop's channel: wait for that report, unless the read has already
                    // completed (its report may have been drained while the loop waited for its handlers).
                    while (!_resultReady && (!messages.TryRead(out ServeLoopMessage message) || message.Kind != ServeLoopMessageKind.ReadCompleted))
                    {
                        await messages.WaitToReadAsync();
                    }

                    if (!TryTakeResult(out result, out Exception? error))
                    {
                        return;
                    }
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
