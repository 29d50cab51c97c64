using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Streams;

/// <summary>
/// The handler's response body writer over the stream's <see cref="ResponseBuffer"/>, whose flushes wake the serve loop.
/// A handler that writes faster than the client reads waits in FlushAsync (the buffer's pipe's pause threshold).
/// </summary>
internal sealed class ResponseBodyWriter : PipeWriter
{
    private readonly Http2Stream _stream;
    private readonly ResponseBuffer _buffer;

    public ResponseBodyWriter(Http2Stream stream, ResponseBuffer buffer)
    {
        _stream = stream;
        _buffer = buffer;
    }

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        ThrowIfCompleted();
        return _buffer.GetMemory(sizeHint);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        ThrowIfCompleted();
        return _buffer.GetSpan(sizeHint);
    }

    /// <summary>Below this size a buffer is copied into the stream's buffer; above it the serve loop sends it from the handler's memory.</summary>
    private const int DirectWriteThreshold = 16 * 1024;

    public override void Advance(int bytes)
    {
        CountWritten(bytes);
        _buffer.Advance(bytes);
    }

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        // Direct only when nothing is left unflushed: what was written before must go out first. A direct write ends
        // only when sent or abandoned with the stream, so a token that can cancel it otherwise takes the pipe, whose
        // flush honours it; RequestAborted cancels only with the stream.
        if (source.Length < DirectWriteThreshold || _stream.SuppressResponseBody || _buffer.UnflushedBytes != 0
            || (cancellationToken.CanBeCanceled && cancellationToken != _stream.RequestAbortedToken))
        {
            return WriteCopyAsync(source, cancellationToken);
        }

        ThrowIfCompleted();
        if (!_stream.HasResponseStarted)
        {
            // Starting first keeps a large first write out of the pipe, whose memory would otherwise hold all of it.
            return StartThenWriteDirectAsync(source);
        }

        CountWritten(source.Length);
        return _stream.IsResponseAbandoned ? new ValueTask<FlushResult>(Abandoned) : _stream.WriteDirectAsync(source);
    }

    /// <summary>Copies the write into the stream's buffer and flushes it; a short one lands in the buffer's array in one copy.</summary>
    private ValueTask<FlushResult> WriteCopyAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        ThrowIfCompleted();
        CountWritten(source.Length);
        if (!_buffer.TryWriteInline(source.Span))
        {
            Span<byte> destination = _buffer.GetSpan(source.Length);
            ReadOnlySpan<byte> remaining = source.Span;
            while (remaining.Length > destination.Length)
            {
                remaining[..destination.Length].CopyTo(destination);
                _buffer.Advance(destination.Length);
                remaining = remaining[destination.Length..];
                destination = _buffer.GetSpan(remaining.Length);
            }

            remaining.CopyTo(destination);
            _buffer.Advance(remaining.Length);
        }

        return FlushAsync(cancellationToken);
    }

    /// <summary>What a write to a stream that was reset or lost its connection returns: the bytes go nowhere, nothing waits.</summary>
    private static readonly FlushResult Abandoned = new(isCanceled: false, isCompleted: true);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> StartThenWriteDirectAsync(ReadOnlyMemory<byte> source)
    {
        // Counted before the start, whose Content-Length check then refuses a write that is too long before any header
        // is sent: the handler's failure becomes a 500, as with a short write, not a reset.
        CountWritten(source.Length);
        await _stream.StartResponseAsync();
        return _stream.IsResponseAbandoned ? Abandoned : await _stream.WriteDirectAsync(source);
    }

    private void CountWritten(int bytes)
    {
        if (bytes <= 0)
        {
            return;
        }

        int status = _stream.StatusCode;
        if (status is StatusCodes.Status204NoContent or StatusCodes.Status205ResetContent or StatusCodes.Status304NotModified)
        {
            throw new InvalidOperationException($"Writing to the response body is invalid for responses with status code {status}.");
        }

        if (status < StatusCodes.Status300MultipleChoices && _stream.AwaitsConnectAcceptance)
        {
            throw new InvalidOperationException(
                "A 2xx response to an extended CONNECT request has no body: accept the request with IHttpExtendedConnectFeature.AcceptAsync and write to the stream it returns.");
        }

        long written = _stream.ResponseBytesWritten + bytes;
        if (_stream.HasResponseStarted && _stream.ResponseContentLength is { } declared && written > declared && !_stream.SuppressResponseBody)
        {
            throw new InvalidOperationException($"Response Content-Length mismatch: too many bytes written ({written} of {declared}).");
        }

        _stream.ResponseBytesWritten = written;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (!_stream.HasResponseStarted)
        {
            Task start;
            try
            {
                start = _stream.StartResponseAsync();
            }
            catch (Exception error)
            {
                // As from an async method: the caller sees the failure when it awaits.
                return ValueTask.FromException<FlushResult>(error);
            }

            if (!start.IsCompletedSuccessfully)
            {
                return StartThenFlushAsync(start, cancellationToken);
            }
        }

        ValueTask<FlushResult> flush = _buffer.FlushAsync(_stream.IsResponseAbandoned, cancellationToken);
        _stream.NotifyOutputReady();
        return flush;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> StartThenFlushAsync(Task start, CancellationToken cancellationToken)
    {
        await start;
        ValueTask<FlushResult> flush = _buffer.FlushAsync(_stream.IsResponseAbandoned, cancellationToken);
        _stream.NotifyOutputReady();
        return await flush;
    }

    public override void CancelPendingFlush() => _buffer.CancelPendingFlush();

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _buffer.UnflushedBytes;

    /// <summary>Completing the writer completes the response, as HttpResponse.CompleteAsync would.</summary>
    public override void Complete(Exception? exception = null) => CompleteAsync(exception).AsTask().GetAwaiter().GetResult();

    public override ValueTask CompleteAsync(Exception? exception = null) => new(_stream.CompleteResponseAsync());

    private void ThrowIfCompleted()
    {
        if (_stream.HasResponseCompleted)
        {
            throw new InvalidOperationException("The response has completed; no more body can be written.");
        }
    }
}
