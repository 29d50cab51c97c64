using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using H2Middleware.ServeLoop;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Streams;

/// <summary>
/// The handler's view of the request body. Every byte the handler consumes is reported to the serve loop,
/// which gives the flow-control window back to the client (the seed's <c>noteBodyRead</c>).
/// </summary>
internal sealed class RequestBodyReader : PipeReader
{
    private readonly Http2Stream _stream;
    private readonly PipeReader _inner;
    private ReadOnlySequence<byte> _lastRead;
    private bool _completed;

    public RequestBodyReader(Http2Stream stream, PipeReader inner)
    {
        _stream = stream;
        _inner = inner;
    }

    public bool HasStartedReading { get; private set; }

    /// <summary>Readies the reader for the next stream that reuses it.</summary>
    public void Reset()
    {
        _lastRead = default;
        _completed = false;
        HasStartedReading = false;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        StartReading();
        ValueTask<ReadResult> read = _inner.ReadAsync(cancellationToken);
        if (read.IsCompletedSuccessfully)
        {
            ReadResult result = read.Result;
            _lastRead = result.Buffer;
            return new ValueTask<ReadResult>(result);
        }

        return AwaitReadAsync(read);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read)
    {
        ReadResult result = await read;
        _lastRead = result.Buffer;
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        StartReading();
        if (_inner.TryRead(out result))
        {
            _lastRead = result.Buffer;
            return true;
        }

        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        long consumedBytes = _lastRead.Slice(_lastRead.Start, consumed).Length;
        _lastRead = default;
        _inner.AdvanceTo(consumed, examined);
        if (consumedBytes > 0)
        {
            _stream.Post(ServeLoopMessageKind.StreamBodyConsumed, consumedBytes);
        }
    }

    public override void CancelPendingRead() => _inner.CancelPendingRead();

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        _inner.Complete(exception);
        _stream.Post(ServeLoopMessageKind.StreamBodyConsumed, BodyReaderCompleted);
    }

    /// <summary>The value of a StreamBodyConsumed message that means "the handler will read no more".</summary>
    public const long BodyReaderCompleted = -1;

    private void StartReading()
    {
        if (HasStartedReading)
        {
            return;
        }

        HasStartedReading = true;
        if (_stream.DeclaredContentLength is { } declared && _stream.MaxRequestBodySize is { } limit && declared > limit)
        {
            throw new BadHttpRequestException($"Request body too large. The max request body size is {limit} bytes.", StatusCodes.Status413PayloadTooLarge);
        }
    }
}
