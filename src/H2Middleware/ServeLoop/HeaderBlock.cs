using H2Middleware.Frames;

namespace H2Middleware.ServeLoop;

/// <summary>What a header block is for, decided from its HEADERS frame before a byte of it is decoded.</summary>
internal enum HeaderBlockPurpose : byte
{
    /// <summary>The request headers of a new stream.</summary>
    Request,

    /// <summary>The trailers of an open stream's request.</summary>
    Trailers,

    /// <summary>A block the client sent before it could see our RST_STREAM or GOAWAY: decoded and dropped.</summary>
    Ignore,

    /// <summary>A stream beyond the concurrency limit: REFUSED_STREAM, which the client may retry.</summary>
    Refuse,

    /// <summary>A stream error the client caused: decoded and dropped, then the stream is reset.</summary>
    Reject,
}

/// <summary>A header block (HEADERS and its CONTINUATION frames) and what it is for.</summary>
internal readonly record struct HeaderBlock(
    int StreamId,
    HeaderBlockPurpose Purpose,
    bool EndStream,
    Http2ErrorCode RejectCode = Http2ErrorCode.NoError,
    ConnectionEndReason RejectCause = default,
    string? RejectReason = null)
{
    public HeaderBlock For(HeaderBlockPurpose purpose) => this with { Purpose = purpose };

    public HeaderBlock Rejecting(Http2ErrorCode code, ConnectionEndReason cause, string reason) =>
        this with { Purpose = HeaderBlockPurpose.Reject, RejectCode = code, RejectCause = cause, RejectReason = reason };
}
