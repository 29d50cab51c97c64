using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;
using H2Middleware.Frames;
using H2Middleware.Protocol;

namespace H2Middleware.ServeLoop;

/// <summary>
/// The read pump: one transport read in flight at a time, its completion posted to the serve loop, which then parses
/// every complete frame of the buffer in place (no copy) and advances the reader only past what it has processed — the
/// seed's gate, without a second thread. Many frames from one read are handled in one batch.
/// </summary>
internal sealed class ReadPump(PipeReader input, Action onReadCompleted)
{
    private ValueTask<ReadResult> _pending;

    public bool InFlight { get; private set; }

    public bool PrefaceReceived { get; private set; }

    /// <summary>Starts the next read; false when the transport's receive side has already failed.</summary>
    public bool TryStart(out Exception? error)
    {
        error = null;
        try
        {
            _pending = input.ReadAsync();
        }
        catch (Exception exception)
        {
            // A transport whose receive side already failed throws at once instead of failing the read.
            error = exception;
            return false;
        }

        InFlight = true;
        if (_pending.IsCompleted)
        {
            onReadCompleted();
        }
        else
        {
            _pending.GetAwaiter().UnsafeOnCompleted(onReadCompleted);
        }

        return true;
    }

    /// <summary>The result of the read that completed; false when the transport failed.</summary>
    public bool TryTakeResult(out ReadResult result, out Exception? error)
    {
        InFlight = false;
        error = null;
        try
        {
            result = _pending.GetAwaiter().GetResult();
            return true;
        }
        catch (Exception exception)
        {
            error = exception;
            result = default;
            return false;
        }
    }

    public void AdvanceTo(SequencePosition consumed, SequencePosition examined) => input.AdvanceTo(consumed, examined);

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
            input.CancelPendingRead();
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
        using CancellationTokenRegistration cancelRead = linger.Token.Register(static reader => ((PipeReader)reader!).CancelPendingRead(), input);
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
                    while (!_pending.IsCompleted && (!messages.TryRead(out ServeLoopMessage message) || message.Kind != ServeLoopMessageKind.ReadCompleted))
                    {
                        await messages.WaitToReadAsync();
                    }

                    InFlight = false;
                    result = _pending.GetAwaiter().GetResult();
                }
                else
                {
                    result = await input.ReadAsync();
                }

                input.AdvanceTo(result.Buffer.End);
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
