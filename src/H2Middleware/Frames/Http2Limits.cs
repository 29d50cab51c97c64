namespace H2Middleware.Frames;

/// <summary>Protocol constants of RFC 9113.</summary>
internal static class Http2Limits
{
    /// <summary>§4.2: the initial SETTINGS_MAX_FRAME_SIZE, and the smallest allowed.</summary>
    public const int DefaultMaxFrameSize = 16_384;

    /// <summary>§4.2: 2^24-1, the largest SETTINGS_MAX_FRAME_SIZE.</summary>
    public const int MaxAllowedFrameSize = 16_777_215;

    /// <summary>§6.9.2: the initial flow-control window of a stream and of the connection.</summary>
    public const int DefaultInitialWindowSize = 65_535;

    /// <summary>§6.9.1: 2^31-1, the largest flow-control window.</summary>
    public const int MaxWindowSize = int.MaxValue;

    /// <summary>RFC 7541 §4.2 / RFC 9113 §6.5.2: the initial SETTINGS_HEADER_TABLE_SIZE.</summary>
    public const int DefaultHeaderTableSize = 4_096;

    /// <summary>The largest stream identifier (2^31−1), also the last-stream-id of a GOAWAY that refuses nothing yet.</summary>
    public const int MaxStreamId = int.MaxValue;

    /// <summary>§3.4: the client connection preface.</summary>
    public static ReadOnlySpan<byte> ClientPreface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;
}
