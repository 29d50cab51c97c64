namespace H2Middleware.Frames;

/// <summary>A protocol violation found in a frame: the RFC's error code, the stream it hits (0 for the connection), and why.</summary>
internal readonly record struct Http2FrameError(Http2ErrorCode Code, int StreamId, string Reason);
