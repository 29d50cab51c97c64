using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Streams;

/// <summary>
/// The handler's response body writer: a bounded per-stream pipe whose flushes wake the serve loop.
/// A handler that writes faster than the client reads waits in FlushAsync (the pipe's pause threshold).
/// </summary>
internal sealed class ResponseBodyWriter : PipeWriter
{
    private readonly Http2Stream _stream;
    private readonly PipeWriter _inner;

    public ResponseBodyWriter(Http2Stream stream, PipeWriter inner)
    {
        _stream = stream;
        _inner = inner;
    }

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        ThrowIfCompleted();
        return _inner.GetMemory(sizeHint);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        ThrowIfCompleted();
        return _inner.GetSpan(sizeHint);
    }

    /// <summary>Below this size a buffer is copied into the pipe; above it the serve loop sends it from the handler's memory.</summary>
    private const int DirectWriteThreshold = 16 * 1024;

    public override void Advance(int bytes)
    {
        CountWritten(bytes);
        _inner.Advance(bytes);
    }

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        // Direct only when nothing is left unflushed in the pipe: what was written before must go out first.
        if (source.Length < DirectWriteThreshold || _stream.SuppressResponseBody || _inner.UnflushedBytes != 0)
        {
            return base.WriteAsync(source, cancellationToken);
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

    /// <summary>What a write to a stream that was reset or lost its connection returns: the bytes go nowhere, nothing waits.</summary>
    private static readonly FlushResult Abandoned = new(isCanceled: false, isCompleted: true);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> StartThenWriteDirectAsync(ReadOnlyMemory<byte> source)
    {
        await _stream.StartResponseAsync();
        CountWritten(source.Length);
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

        ValueTask<FlushResult> flush = _inner.FlushAsync(cancellationToken);
        _stream.NotifyOutputReady();
        return flush;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> StartThenFlushAsync(Task start, CancellationToken cancellationToken)
    {
        await start;
        ValueTask<FlushResult> flush = _inner.FlushAsync(cancellationToken);
        _stream.NotifyOutputReady();
        return await flush;
    }

    public override void CancelPendingFlush() => _inner.CancelPendingFlush();

    public override bool CanGetUnflushedBytes => _inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => _inner.UnflushedBytes;

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
