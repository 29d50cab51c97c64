namespace H2Middleware.Protocol;

/// <summary>The states of a stream (RFC 9113 §5.1): those the client opens, and "reserved (local)" for those we push.</summary>
internal enum StreamState : byte
{
    Idle,
    Open,

    /// <summary>We promised the stream (PUSH_PROMISE) and have not sent its HEADERS yet; the client sends nothing on it.</summary>
    ReservedLocal,

    /// <summary>We sent END_STREAM; the client may still send.</summary>
    HalfClosedLocal,

    /// <summary>The client sent END_STREAM; we may still send.</summary>
    HalfClosedRemote,

    Closed,
}

/// <summary>What moves a stream from one state to the next.</summary>
internal enum StreamEvent : byte
{
    /// <summary>HEADERS opened the stream.</summary>
    Opened,

    /// <summary>We promised the stream to the client (server push).</summary>
    Reserved,

    /// <summary>We sent the HEADERS of a stream we promised.</summary>
    HeadersSent,

    /// <summary>A frame with END_STREAM arrived.</summary>
    EndStreamReceived,

    /// <summary>We sent a frame with END_STREAM.</summary>
    EndStreamSent,

    /// <summary>The client sent RST_STREAM.</summary>
    ResetByClient,

    /// <summary>We reset the stream, or the connection ended under it.</summary>
    ResetByServer,
}

/// <summary>How a stream reached "closed" (RFC 9113 §5.1): it decides what a late frame on it means.</summary>
internal enum StreamCloseCause : byte
{
    /// <summary>Not closed, or nothing is remembered: closed long ago, or implicitly closed while idle (§5.1.1).</summary>
    Unknown,

    /// <summary>Both sides sent END_STREAM.</summary>
    EndStream,

    /// <summary>The client sent RST_STREAM: any later frame but PRIORITY is a STREAM_CLOSED stream error.</summary>
    ResetByClient,

    /// <summary>We sent RST_STREAM: frames the client sent before it saw it are ignored.</summary>
    ResetByServer,
}

/// <summary>A stream's state and, once closed, why: changed only through <see cref="Apply"/>, the one transition function.</summary>
internal sealed class StreamLifecycle
{
    public StreamState State { get; private set; }

    public StreamCloseCause CloseCause { get; private set; }

    /// <summary>The client can send no more: it sent END_STREAM, the stream closed, or it is one we push.</summary>
    public bool RemoteClosed => State is StreamState.HalfClosedRemote or StreamState.Closed or StreamState.ReservedLocal;

    /// <summary>We can send no more: we sent END_STREAM, or the stream closed.</summary>
    public bool LocalClosed => State is StreamState.HalfClosedLocal or StreamState.Closed;

    public bool IsClosed => State == StreamState.Closed;

    public bool WasReset => CloseCause is StreamCloseCause.ResetByClient or StreamCloseCause.ResetByServer;

    public void Reset()
    {
        State = StreamState.Idle;
        CloseCause = StreamCloseCause.Unknown;
    }

    /// <summary>
    /// Applies one transition of RFC 9113 §5.1. Returns true when this event closed the stream, which happens once per
    /// stream: the caller then releases what the stream held. An event that does not apply (a reset of a closed stream,
    /// say) changes nothing and returns false.
    /// </summary>
    public bool Apply(StreamEvent streamEvent)
    {
        StreamState next = (State, streamEvent) switch
        {
            (StreamState.Idle, StreamEvent.Opened) => StreamState.Open,
            (StreamState.Idle, StreamEvent.Reserved) => StreamState.ReservedLocal,
            (StreamState.ReservedLocal, StreamEvent.HeadersSent) => StreamState.HalfClosedRemote,
            (StreamState.Open, StreamEvent.EndStreamReceived) => StreamState.HalfClosedRemote,
            (StreamState.Open, StreamEvent.EndStreamSent) => StreamState.HalfClosedLocal,
            (StreamState.HalfClosedLocal, StreamEvent.EndStreamReceived) => StreamState.Closed,
            (StreamState.HalfClosedRemote, StreamEvent.EndStreamSent) => StreamState.Closed,
            (not StreamState.Closed, StreamEvent.ResetByClient or StreamEvent.ResetByServer) => StreamState.Closed,
            _ => State,
        };
        if (next == State)
        {
            return false;
        }

        State = next;
        if (next != StreamState.Closed)
        {
            return false;
        }

        CloseCause = streamEvent switch
        {
            StreamEvent.ResetByClient => StreamCloseCause.ResetByClient,
            StreamEvent.ResetByServer => StreamCloseCause.ResetByServer,
            _ => StreamCloseCause.EndStream,
        };
        return true;
    }
}
