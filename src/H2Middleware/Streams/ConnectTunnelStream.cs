namespace H2Middleware.Streams;

/// <summary>
/// The duplex stream an accepted extended CONNECT hands the application: reads take the request's DATA, writes send
/// the response's DATA, each write flushed to the serve loop at once (a WebSocket frame must not wait for the next).
/// It owns neither side: the stream ends when the handler completes the response or returns, so disposing it (as a
/// WebSocket does) changes nothing. Made once per pooled stream object and reused.
/// </summary>
internal sealed class ConnectTunnelStream(RequestBodyStream request, ResponseBodyStream response) : Stream
{
    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => request.Read(buffer, offset, count);

    public override int Read(Span<byte> buffer) => request.Read(buffer);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        request.ReadAsync(buffer, offset, count, cancellationToken);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        request.ReadAsync(buffer, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => response.Write(buffer, offset, count);

    public override void Write(ReadOnlySpan<byte> buffer) => response.Write(buffer);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        response.WriteAsync(buffer, offset, count, cancellationToken);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        response.WriteAsync(buffer, cancellationToken);

    public override void Flush() => response.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => response.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
