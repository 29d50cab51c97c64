using H2Middleware.Frames;

namespace H2Middleware.Telemetry;

/// <summary>
/// Tag names and the strings the instruments tag with: made once, so recording a measurement never formats or boxes
/// anything, and bounded, so that a client sending unknown frame types or error codes cannot grow the tag space.
/// </summary>
internal static class Http2TagValues
{
    public const string Direction = "http2.direction";
    public const string FrameType = "http2.frame.type";
    public const string ErrorCode = "http2.error_code";
    public const string Reason = "h2middleware.reason";

    public const string Sent = "sent";
    public const string Received = "received";

    private const string Unknown = "UNKNOWN";

    // RFC 9113 §6 and RFC 9218 §7.1 names, by type code.
    private static readonly string[] FrameTypeNames =
    [
        "DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION",
        Unknown, Unknown, Unknown, Unknown, Unknown, Unknown, "PRIORITY_UPDATE",
    ];

    // RFC 9113 §7 names, by code.
    private static readonly string[] ErrorCodeNames =
    [
        "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR",
        "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
    ];

    /// <summary>The frame type's RFC name; UNKNOWN for extension types (RFC 9113 §5.5).</summary>
    public static string Of(Http2FrameType type) => (int)type < FrameTypeNames.Length ? FrameTypeNames[(int)type] : Unknown;

    /// <summary>The error code's RFC name; UNKNOWN for codes RFC 9113 does not define (§7 allows them).</summary>
    public static string Of(Http2ErrorCode code) => (uint)code < (uint)ErrorCodeNames.Length ? ErrorCodeNames[(int)code] : Unknown;
}
