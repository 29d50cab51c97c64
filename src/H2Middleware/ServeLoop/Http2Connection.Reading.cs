using System.Buffers;
using System.IO.Pipelines;
using H2Middleware.Frames;
using H2Middleware.Protocol;
using H2Middleware.Output;

namespace H2Middleware.ServeLoop;

/// <summary>
/// The read pump. One transport read is in flight at a time; its completion is posted to the loop, which parses
/// every complete frame of the buffer in place (no copy) and advances the reader only past what it has processed
/// — the seed's gate, without a second thread. Many frames from one read are handled in one batch.
/// </summary>
internal sealed partial class Http2Connection
{
    private readonly Action _onReadCompleted;
    private ValueTask<ReadResult> _pendingRead;
    private bool _readInFlight;
    private bool _stopReading;
    private bool _lingerBeforeClose;
    private bool _prefaceReceived;

    private void StartRead()
    {
        if (_stopReading || _stopped)
        {
            return;
        }

        try
        {
            _pendingRead = _input.ReadAsync();
        }
        catch (Exception exception)
        {
            // A transport whose receive side already failed throws at once instead of failing the read.
            Http2Log.TransportFailed(Logger, ConnectionId, "reading from the transport failed", exception);
            Abort("reading from the transport failed");
            return;
        }

        _readInFlight = true;
        if (_pendingRead.IsCompleted)
        {
            Post(new ServeLoopMessage(ServeLoopMessageKind.ReadCompleted));
        }
        else
        {
            _pendingRead.GetAwaiter().UnsafeOnCompleted(_onReadCompleted);
        }
    }

    private void OnReadCompleted()
    {
        _readInFlight = false;
        ReadResult result;
        try
        {
            result = _pendingRead.GetAwaiter().GetResult();
        }
        catch (Exception exception)
        {
            Http2Log.TransportFailed(Logger, ConnectionId, "reading from the transport failed", exception);
            Abort("reading from the transport failed");
            return;
        }

        _lastReadAt = _time.GetTimestamp();
        ReadOnlySequence<byte> buffer = result.Buffer;
        SequencePosition consumed = buffer.Start;
        try
        {
            if (!_prefaceReceived && !TryReadPreface(ref buffer))
            {
                consumed = buffer.Start;
            }
            else
            {
                ProcessFrames(ref buffer);
                consumed = buffer.Start;
            }
        }
        catch (Http2ConnectionException error)
        {
            FailConnection(error.ErrorCode, error.Message);
        }

        _input.AdvanceTo(consumed, result.Buffer.End);

        if (result.IsCompleted || result.IsCanceled)
        {
            OnClientStoppedSending();
            return;
        }

        StartRead();
    }

    /// <summary>Matches the 24-octet client preface (RFC 9113 §3.4). False when more bytes are needed.</summary>
    private bool TryReadPreface(ref ReadOnlySequence<byte> buffer)
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
        _prefaceReceived = true;
        return true;
    }

    private void ProcessFrames(ref ReadOnlySequence<byte> buffer)
    {
        while (!_stopReading && !_stopped)
        {
            Http2FrameReadStatus status = Http2FrameReader.TryReadFrame(ref buffer, Options.MaxFrameSize, out Http2Frame frame, out Http2FrameError error);
            switch (status)
            {
                case Http2FrameReadStatus.NeedMoreData:
                    return;
                case Http2FrameReadStatus.ConnectionError:
                    throw new Http2ConnectionException(error.Code, error.Reason);
                case Http2FrameReadStatus.StreamError:
                    LogFrameReceived(frame);
                    OnFrameStreamError(frame, error);
                    break;
                default:
                    LogFrameReceived(frame);
                    ProcessFrame(frame);
                    break;
            }
        }
    }

    /// <summary>The client closed its sending side: no more requests can arrive; finish what is in flight.</summary>
    private void OnClientStoppedSending()
    {
        _stopReading = true;
        if (!_closing)
        {
            AbortAllStreams(Http2ErrorCode.Cancel);
            BeginClosing();
        }
    }

    private void LogFrameReceived(in Http2Frame frame)
    {
        if (Logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Trace))
        {
            Http2Log.FrameReceived(Logger, ConnectionId, frame.Type, frame.StreamId, (byte)frame.Flags, frame.Header.PayloadLength);
        }
    }
}
