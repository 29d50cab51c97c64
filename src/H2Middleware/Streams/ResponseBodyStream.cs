using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace H2Middleware.Streams;

/// <summary>The response body as a write-only <see cref="Stream"/> over the stream's body writer.</summary>
internal sealed class ResponseBodyStream : Stream
{
    private readonly Http2Stream _stream;
    private readonly PipeWriter _writer;

    public ResponseBodyStream(Http2Stream stream, PipeWriter writer)
    {
        _stream = stream;
        _writer = writer;
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ThrowIfSynchronousIODisallowed();
        _writer.WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    }

    /// <summary>A span cannot be sent from the caller's memory: it is copied in pieces, each waiting for room in the stream's buffer.</summary>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ThrowIfSynchronousIODisallowed();
        while (!buffer.IsEmpty)
        {
            int length = Math.Min(buffer.Length, SynchronousWriteChunk);
            _writer.Write(buffer[..length]);
            _writer.FlushAsync().AsTask().GetAwaiter().GetResult();
            buffer = buffer[length..];
        }
    }

    private const int SynchronousWriteChunk = 16 * 1024;

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ValueTask<FlushResult> write = _writer.WriteAsync(buffer, cancellationToken);
        if (write.IsCompletedSuccessfully)
        {
            _ = write.Result;
            return ValueTask.CompletedTask;
        }

        return AwaitWriteAsync(write);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask AwaitWriteAsync(ValueTask<FlushResult> write) => await write;

    public override void Flush()
    {
        ThrowIfSynchronousIODisallowed();
        _writer.FlushAsync().AsTask().GetAwaiter().GetResult();
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => _writer.FlushAsync(cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private void ThrowIfSynchronousIODisallowed()
    {
        if (!_stream.AllowSynchronousIO)
        {
            throw new InvalidOperationException("Synchronous operations are disallowed. Call WriteAsync or set AllowSynchronousIO to true instead.");
        }
    }
}
