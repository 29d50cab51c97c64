using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using H2Middleware.ServeLoop;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Streams;

/// <summary>
/// The handler's view of the request body. How far the handler has consumed and examined the body is reported to the
/// serve loop, which gives the flow-control window back to the client (the seed's <c>noteBodyRead</c>). The body size limit is
/// enforced here, as the handler reads, because the handler may change it until its first read; what is buffered
/// before then is bounded by the stream's flow-control window.
/// </summary>
internal sealed class RequestBodyReader : PipeReader
{
    private readonly Http2Stream _stream;
    private readonly PipeReader _inner;
    private ReadOnlySequence<byte> _lastRead;
    private long _consumed;
    private long _examined;
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
        _consumed = 0;
        _examined = 0;
        _completed = false;
        HasStartedReading = false;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        StartReading();
        ValueTask<ReadResult> read = _inner.ReadAsync(cancellationToken);
        if (read.IsCompletedSuccessfully)
        {
            return new ValueTask<ReadResult>(OnRead(read.Result));
        }

        return AwaitReadAsync(read);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read) => OnRead(await read);

    private ReadResult OnRead(ReadResult result)
    {
        _lastRead = result.Buffer;
        if (_stream.MaxRequestBodySize is { } limit && _consumed + result.Buffer.Length > limit)
        {
            _inner.AdvanceTo(result.Buffer.Start);
            _lastRead = default;
            throw TooLarge(limit);
        }

        return result;
    }

    private static BadHttpRequestException TooLarge(long limit) =>
        new($"Request body too large. The max request body size is {limit} bytes.", StatusCodes.Status413PayloadTooLarge);

    public override bool TryRead(out ReadResult result)
    {
        StartReading();
        if (_inner.TryRead(out result))
        {
            result = OnRead(result);
            return true;
        }

        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        long readStart = _consumed;
        long consumedBytes = _lastRead.Slice(_lastRead.Start, consumed).Length;
        long examinedEnd = readStart + _lastRead.Slice(_lastRead.Start, examined).Length;
        _lastRead = default;
        _consumed += consumedBytes;
        _inner.AdvanceTo(consumed, examined);
        if (consumedBytes > 0 || examinedEnd > _examined)
        {
            _examined = Math.Max(_examined, examinedEnd);
            _stream.Post(ServeLoopMessageKind.StreamBodyConsumed, _consumed, _examined);
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
            throw TooLarge(limit);
        }
    }
}
