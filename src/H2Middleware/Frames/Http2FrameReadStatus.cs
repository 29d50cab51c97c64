namespace H2Middleware.Frames;

/// <summary>What <see cref="Http2FrameReader.TryReadFrame"/> found at the start of the buffer.</summary>
internal enum Http2FrameReadStatus
{
    /// <summary>A valid frame; the buffer now starts after it.</summary>
    Frame,

    /// <summary>The frame is incomplete; nothing was consumed.</summary>
    NeedMoreData,

    /// <summary>The frame breaks a rule whose violation is a stream error; the buffer now starts after it.</summary>
    StreamError,

    /// <summary>The frame breaks a rule whose violation is a connection error.</summary>
    ConnectionError,
}
