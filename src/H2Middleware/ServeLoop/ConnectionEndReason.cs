namespace H2Middleware.ServeLoop;

/// <summary>
/// Why a client's behaviour cost the connection work without progress, and so why a connection may end. Each name is
/// used as it is in logs and in GOAWAY debug data; they follow Kestrel's <c>ConnectionEndReason</c> names where the
/// meaning is the same.
/// </summary>
internal enum ConnectionEndReason : byte
{
    /// <summary>A request header list over SETTINGS_MAX_HEADER_LIST_SIZE (answered with 431).</summary>
    MaxRequestHeadersTotalSizeExceeded,

    /// <summary>A malformed request or trailer block (RFC 9113 §8.1.1), answered with RST_STREAM(PROTOCOL_ERROR).</summary>
    InvalidRequestHeaders,

    /// <summary>A request body that disagrees with its content-length.</summary>
    InvalidContentLength,

    /// <summary>A frame on a stream the client had already ended or reset (RFC 9113 §5.1, §6.1).</summary>
    ReceivedFrameAfterStreamClose,

    /// <summary>A frame that is malformed in a way that harms only its stream (RFC 9113 §6), answered with RST_STREAM.</summary>
    UnexpectedFrame,

    /// <summary>DATA beyond the stream's flow-control window.</summary>
    FlowControlWindowExceeded,

    /// <summary>A WINDOW_UPDATE that takes a stream window above 2^31−1.</summary>
    WindowUpdateSizeInvalid,

    /// <summary>A stream that depends on itself.</summary>
    StreamSelfDependency,

    /// <summary>A stream opened beyond SETTINGS_MAX_CONCURRENT_STREAMS after the client acknowledged it (REFUSED_STREAM).</summary>
    MaxConcurrentStreamsExceeded,

    /// <summary>A header block that did not complete within the request headers timeout.</summary>
    RequestHeadersTimeout,

    /// <summary>PING or SETTINGS frames (each owed an acknowledgement) faster than <see cref="ControlFrameRateLimit"/> allows.</summary>
    ControlFrameFlood,
}
