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
    private bool _noBodyReadCanceled;

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
        _noBodyReadCanceled = false;
        HasStartedReading = false;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        StartReading();
        if (_stream.RequestBodyAbsent)
        {
            return cancellationToken.IsCancellationRequested
                ? ValueTask.FromCanceled<ReadResult>(cancellationToken)
                : new ValueTask<ReadResult>(NoBody());
        }

        ValueTask<ReadResult> read;
        try
        {
            read = _inner.ReadAsync(cancellationToken);
        }
        catch (IOException)
        {
            OnReadFailed();
            throw;
        }

        if (read.IsCompletedSuccessfully)
        {
            return new ValueTask<ReadResult>(OnRead(read.Result));
        }

        return AwaitReadAsync(read);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read)
    {
        try
        {
            return OnRead(await read);
        }
        catch (IOException)
        {
            OnReadFailed();
            throw;
        }
    }

    /// <summary>
    /// A read that fails because the stream ended finds RequestAborted already cancelled, as Kestrel's do: handlers tell
    /// a lost client from an error by it. The serve loop's own cancellation is queued to the thread pool and could come
    /// after the failed read has resumed the handler.
    /// </summary>
    private void OnReadFailed()
    {
        if (_stream.IsResponseAbandoned)
        {
            _stream.CancelRequestAborted();
        }
    }

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
        if (_stream.RequestBodyAbsent)
        {
            result = NoBody();
            return true;
        }

        bool read;
        try
        {
            read = _inner.TryRead(out result);
        }
        catch (IOException)
        {
            OnReadFailed();
            throw;
        }

        if (read)
        {
            result = OnRead(result);
        }

        return read;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_stream.RequestBodyAbsent)
        {
            return;
        }

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

    public override void CancelPendingRead()
    {
        if (_stream.RequestBodyAbsent)
        {
            _noBodyReadCanceled = true;
            return;
        }

        _inner.CancelPendingRead();
    }

    /// <summary>What a read of an absent body returns: the end at once (marked canceled once, if a cancel came first).</summary>
    private ReadResult NoBody()
    {
        bool canceled = _noBodyReadCanceled;
        _noBodyReadCanceled = false;
        return new ReadResult(ReadOnlySequence<byte>.Empty, canceled, isCompleted: true);
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        if (_stream.RequestBodyAbsent)
        {
            return;
        }

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
