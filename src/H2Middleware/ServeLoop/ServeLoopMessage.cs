using H2Middleware.Frames;
using H2Middleware.Streams;

namespace H2Middleware.ServeLoop;

/// <summary>What the serve loop can be told. Everything outside the loop talks to it with one of these.</summary>
internal enum ServeLoopMessageKind : byte
{
    /// <summary>The pending transport read completed.</summary>
    ReadCompleted,

    /// <summary>The pending transport flush completed.</summary>
    FlushCompleted,

    /// <summary>A handler started its response, wrote body bytes or completed the response.</summary>
    StreamOutputReady,

    /// <summary>A handler consumed <c>Value</c> request body bytes: their window can be given back.</summary>
    StreamBodyConsumed,

    /// <summary>A handler returned; the stream's application state may be released.</summary>
    StreamApplicationCompleted,

    /// <summary>A handler reset or aborted its stream with the error code in <c>Value</c>.</summary>
    StreamResetByApplication,

    /// <summary>A handler changed its stream's priority.</summary>
    StreamPriorityChanged,

    /// <summary>A timer of the loop fired; <c>Value</c> is its <see cref="ServeLoopTimer"/>.</summary>
    TimerFired,

    /// <summary>The host asked the connection to close gracefully.</summary>
    ShutdownRequested,

    /// <summary>The transport is gone; stop now.</summary>
    ConnectionAborted,
}

internal enum ServeLoopTimer : byte
{
    Preface,
    SettingsAck,
    KeepAlive,
    Shutdown,
    Close,
}

internal readonly record struct ServeLoopMessage(ServeLoopMessageKind Kind, Http2Stream? Stream = null, long Value = 0)
{
    public Http2ErrorCode ErrorCode => (Http2ErrorCode)Value;
}
