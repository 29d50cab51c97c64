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

    /// <summary>
    /// The handler has consumed <c>Value</c> request body bytes and examined <c>Value2</c> (both totals since the stream
    /// began): their window can be given back.
    /// </summary>
    StreamBodyConsumed,

    /// <summary>A handler returned; the stream's application state may be released.</summary>
    StreamApplicationCompleted,

    /// <summary>A handler reset or aborted its stream with the error code in <c>Value</c>.</summary>
    StreamResetByApplication,

    /// <summary>A handler changed its stream's priority.</summary>
    StreamPriorityChanged,

    /// <summary>The stream's RequestAborted callbacks have run: nothing of the aborted request holds the stream any more.</summary>
    StreamAbortDelivered,

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
    KeepAlivePing,
    RequestHeaders,
    DataRates,
    Shutdown,
    FinalGoAway,
    Close,
}

/// <summary>
/// One message to the serve loop. A stream's message carries the stream's generation at the time it was posted: a
/// message that arrives after the stream object was recycled for another stream is stale, and the loop drops it.
/// </summary>
internal readonly struct ServeLoopMessage
{
    public ServeLoopMessage(ServeLoopMessageKind kind, long value = 0)
    {
        Kind = kind;
        Value = value;
    }

    public ServeLoopMessage(ServeLoopMessageKind kind, Http2Stream stream, int generation, long value, long value2)
    {
        Kind = kind;
        Stream = stream;
        Generation = generation;
        Value = value;
        Value2 = value2;
    }

    public ServeLoopMessageKind Kind { get; }

    public Http2Stream? Stream { get; }

    public int Generation { get; }

    public long Value { get; }

    public long Value2 { get; }

    public Http2ErrorCode ErrorCode => (Http2ErrorCode)Value;

    /// <summary>True when the message is about a use of its stream object that has ended since it was posted.</summary>
    public bool IsStale => Stream is not null && Stream.Generation != Generation;
}
