using H2Middleware.Frames;

namespace H2Middleware.Protocol;

/// <summary>A connection error (RFC 9113 §5.4.1): the serve loop answers it with GOAWAY and closes.</summary>
internal sealed class Http2ConnectionException(Http2ErrorCode errorCode, string reason) : Exception(reason)
{
    public Http2ErrorCode ErrorCode { get; } = errorCode;
}
