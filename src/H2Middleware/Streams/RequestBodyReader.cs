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
/// before then is bounded by the stream's flow-control window. A body that is absent, or arrived whole before the
/// handler's first use of the reader (<see cref="WholeRequestBody"/>), is read from memory: complete at once, with
/// nothing to report back, and as lenient as the pipe is strict about an AdvanceTo without a read. The handler's calls
/// come one at a time (the PipeReader contract), except <see cref="CancelPendingRead"/>, which may come from any
/// thread (a RequestAborted callback, say): it never chooses the source, and a cancel that comes before the choice
/// is handed to whichever source is chosen, exactly once.
/// </summary>
internal sealed class RequestBodyReader : PipeReader
{
    private readonly Http2Stream _stream;
    private readonly PipeReader _inner;
    private readonly WholeRequestBody _wholeBody;
    private int _source;
    private int _cancelBeforeSource;
    private ReadOnlySequence<byte> _inMemory;
    private ReadOnlySequence<byte> _lastRead;
    private long _consumed;
    private long _examined;
    private bool _completed;
    private int _inMemoryReadCanceled;

    public RequestBodyReader(Http2Stream stream, PipeReader inner, WholeRequestBody wholeBody)
    {
        _stream = stream;
        _inner = inner;
        _wholeBody = wholeBody;
    }

    private const int Undecided = 0;
    private const int FromPipe = 1;
    private const int FromMemory = 2;

    public bool HasStartedReading { get; private set; }

    /// <summary>Readies the reader for the next stream that reuses it.</summary>
    public void Reset()
    {
        _source = Undecided;
        _cancelBeforeSource = 0;
        _inMemory = default;
        _lastRead = default;
        _consumed = 0;
        _examined = 0;
        _completed = false;
        _inMemoryReadCanceled = 0;
        HasStartedReading = false;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        StartReading();
        if (IsInMemory)
        {
            return cancellationToken.IsCancellationRequested
                ? ValueTask.FromCanceled<ReadResult>(cancellationToken)
                : new ValueTask<ReadResult>(ReadInMemory());
        }

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
        if (IsOverLimit(result.Buffer))
        {
            _inner.AdvanceTo(result.Buffer.Start);
            throw TooLarge(_stream.MaxRequestBodySize!.Value);
        }

        _lastRead = result.Buffer;
        return result;
    }

    private bool IsOverLimit(in ReadOnlySequence<byte> buffer) =>
        _stream.MaxRequestBodySize is { } limit && _consumed + buffer.Length > limit;

    /// <summary>Whether the body is read from memory, decided at the reader's first use.</summary>
    private bool IsInMemory
    {
        get
        {
            if (_source == Undecided)
            {
                ChooseSource();
            }

            return _source == FromMemory;
        }
    }

    /// <summary>On the handler's side, at its first call other than a cancel.</summary>
    private void ChooseSource()
    {
        ReadOnlySequence<byte> body = ReadOnlySequence<byte>.Empty;
        bool inMemory = _stream.RequestBodyAbsent || _wholeBody.TryClaim(out body);
        _inMemory = body;
        Volatile.Write(ref _source, inMemory ? FromMemory : FromPipe);
        Interlocked.MemoryBarrier();
        TakeCancelBeforeSource();
    }

    /// <summary>A cancel that came before the source was chosen goes to it; whichever thread takes the flag hands it on.</summary>
    private void TakeCancelBeforeSource()
    {
        if (Interlocked.Exchange(ref _cancelBeforeSource, 0) == 1)
        {
            CancelPendingReadOf(Volatile.Read(ref _source));
        }
    }

    private void CancelPendingReadOf(int source)
    {
        if (source == FromMemory)
        {
            Volatile.Write(ref _inMemoryReadCanceled, 1);
        }
        else
        {
            _inner.CancelPendingRead();
        }
    }

    private static BadHttpRequestException TooLarge(long limit) =>
        new($"Request body too large. The max request body size is {limit} bytes.", StatusCodes.Status413PayloadTooLarge);

    public override bool TryRead(out ReadResult result)
    {
        StartReading();
        if (IsInMemory)
        {
            result = ReadInMemory();
            return true;
        }

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
        if (IsInMemory)
        {
            if (!_lastRead.IsEmpty)
            {
                _consumed += _lastRead.Slice(_lastRead.Start, consumed).Length;
                _inMemory = _lastRead.Slice(consumed);
                _lastRead = default;
            }

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
        int source = Volatile.Read(ref _source);
        if (source != Undecided)
        {
            CancelPendingReadOf(source);
            return;
        }

        Volatile.Write(ref _cancelBeforeSource, 1);
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _source) != Undecided)
        {
            TakeCancelBeforeSource();
        }
    }

    /// <summary>What a read of a body in memory returns: what is left of it, complete (marked canceled once, if a cancel came first).</summary>
    private ReadResult ReadInMemory()
    {
        if (IsOverLimit(_inMemory))
        {
            throw TooLarge(_stream.MaxRequestBodySize!.Value);
        }

        bool canceled = Interlocked.Exchange(ref _inMemoryReadCanceled, 0) == 1;
        _lastRead = _inMemory;
        return new ReadResult(_inMemory, canceled, isCompleted: true);
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        if (IsInMemory)
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
