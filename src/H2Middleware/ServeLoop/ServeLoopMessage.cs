using H2Middleware.Frames;

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

    /// <summary>A handler asks to push a response; <c>Payload</c> is its <see cref="Streams.PushRequest"/>.</summary>
    StreamPushRequested,

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
/// One message to the serve loop. A stream's message names the stream by id, which a connection never reuses: the loop
/// resolves it in its stream table, and a message about a stream the table no longer holds (its entry was recycled) is
/// dropped. The id is read when the message is posted, so a handler that keeps using its HttpContext after it returned
/// (and after the pooled stream began serving another request) would speak for the new stream: as under Kestrel, an
/// HttpContext must not be used once its request is over.
/// </summary>
internal readonly struct ServeLoopMessage
{
    public ServeLoopMessage(ServeLoopMessageKind kind, long value = 0)
    {
        Kind = kind;
        Value = value;
    }

    public ServeLoopMessage(ServeLoopMessageKind kind, int streamId, long value, long value2)
    {
        Kind = kind;
        StreamId = streamId;
        Value = value;
        Value2 = value2;
    }

    /// <summary>A message that carries an object (a push request): only pushing handlers send these.</summary>
    public ServeLoopMessage(ServeLoopMessageKind kind, int streamId, object payload)
    {
        Kind = kind;
        StreamId = streamId;
        Payload = payload;
    }

    public ServeLoopMessageKind Kind { get; }

    /// <summary>The stream the message is about; 0 for a message about the connection.</summary>
    public int StreamId { get; }

    public long Value { get; }

    public long Value2 { get; }

    public object? Payload { get; }

    public Http2ErrorCode ErrorCode => (Http2ErrorCode)Value;
}
