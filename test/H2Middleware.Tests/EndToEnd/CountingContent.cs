using System.Net;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// A request body sent in chunks that counts what the client has handed to HTTP/2: SocketsHttpHandler's writes wait
/// for flow-control window, so when an upload stalls the count says where.
/// </summary>
internal sealed class CountingContent : HttpContent
{
    private readonly byte[] _data;
    private readonly int _chunkSize;
    private long _written;

    public CountingContent(byte[] data, int chunkSize = 16 * 1024)
    {
        _data = data;
        _chunkSize = chunkSize;
    }

    public long BytesWritten => Interlocked.Read(ref _written);

    public string Progress => $"the client had sent {BytesWritten:N0} of {_data.Length:N0} request bytes";

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        for (int offset = 0; offset < _data.Length; offset += _chunkSize)
        {
            int count = Math.Min(_chunkSize, _data.Length - offset);
            await stream.WriteAsync(_data.AsMemory(offset, count), cancellationToken);
            Interlocked.Add(ref _written, count);
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = _data.Length;
        return true;
    }
}
