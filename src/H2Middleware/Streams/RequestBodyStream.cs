using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace H2Middleware.Streams;

/// <summary>The request body as a read-only <see cref="Stream"/> over the stream's body reader.</summary>
internal sealed class RequestBodyStream : Stream
{
    private readonly Http2Stream _stream;
    private readonly PipeReader _reader;

    public RequestBodyStream(Http2Stream stream, PipeReader reader)
    {
        _stream = stream;
        _reader = reader;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (!_stream.AllowSynchronousIO)
        {
            throw new InvalidOperationException("Synchronous operations are disallowed. Call ReadAsync or set AllowSynchronousIO to true instead.");
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int read = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, read).CopyTo(buffer);
            return read;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            ReadResult result = await _reader.ReadAsync(cancellationToken);
            ReadOnlySequence<byte> data = result.Buffer;
            if (!data.IsEmpty || buffer.IsEmpty)
            {
                int length = (int)Math.Min(data.Length, buffer.Length);
                data.Slice(0, length).CopyTo(buffer.Span);
                _reader.AdvanceTo(data.GetPosition(length));
                return length;
            }

            if (result.IsCompleted)
            {
                _reader.AdvanceTo(data.End);
                return 0;
            }

            if (result.IsCanceled)
            {
                _reader.AdvanceTo(data.Start);
                throw new OperationCanceledException("The read was canceled.");
            }

            _reader.AdvanceTo(data.Start, data.End);
        }
    }

    public override Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken) =>
        _reader.CopyToAsync(destination, cancellationToken);

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
