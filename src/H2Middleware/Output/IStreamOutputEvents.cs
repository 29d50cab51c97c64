using H2Middleware.Frames;
using H2Middleware.Protocol;

namespace H2Middleware.Output;

/// <summary>
/// What the write side reports about a stream's response, for the serve loop to act on: the write side writes frames,
/// the loop alone changes a stream's state.
/// </summary>
internal interface IStreamOutputEvents
{
    /// <summary>The response's HEADERS have been written: a stream we push leaves "reserved (local)" (RFC 9113 §5.1).</summary>
    void OnResponseHeadersSent(StreamEntry stream);

    /// <summary>The response's last frame (END_STREAM) has been written.</summary>
    void OnEndStreamSent(StreamEntry stream);

    /// <summary>The handler side reset the stream, as its completed response pipe showed.</summary>
    void OnApplicationReset(StreamEntry stream, Http2ErrorCode errorCode);

    /// <summary>The response cannot be sent as the handler left it (invalid or oversized fields).</summary>
    void OnResponseInvalid(StreamEntry stream, string reason);
}
