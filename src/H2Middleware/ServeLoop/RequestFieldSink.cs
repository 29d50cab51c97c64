using H2Middleware.Hpack;
using H2Middleware.Streams;

namespace H2Middleware.ServeLoop;

/// <summary>
/// Where the HPACK decoder puts the fields of a request header or trailer block: into the stream the block belongs to,
/// with the connection's string cache, which stays the loop's (the stream gets it for the call only).
/// </summary>
internal sealed class RequestFieldSink(HeaderStringCache strings) : IHpackHeaderSink
{
    /// <summary>The stream whose block is being decoded.</summary>
    public Http2Stream? Target { get; set; }

    public void OnHeader(int staticNameIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
        Target!.OnRequestField(staticNameIndex, name, value, strings);
}
