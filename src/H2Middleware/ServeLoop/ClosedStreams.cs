namespace H2Middleware.ServeLoop;

/// <summary>How a stream reached "closed" (RFC 9113 §5.1): it decides what a late frame on it means.</summary>
internal enum StreamCloseCause : byte
{
    /// <summary>Nothing is remembered about the stream: closed long ago, or implicitly closed while idle (§5.1.1).</summary>
    Unknown,

    /// <summary>Both sides sent END_STREAM.</summary>
    EndStream,

    /// <summary>The client sent RST_STREAM: any later frame but PRIORITY is a STREAM_CLOSED stream error.</summary>
    ResetByClient,

    /// <summary>We sent RST_STREAM: frames the client sent before it saw it are ignored.</summary>
    ResetByServer,
}

/// <summary>
/// The ids of the last streams to close and how each closed, kept after the stream objects are recycled so that late
/// frames are still judged by who closed the stream. Bounded: the oldest entries are forgotten.
/// </summary>
internal sealed class ClosedStreams(int capacity)
{
    private readonly int[] _ids = new int[capacity];
    private readonly StreamCloseCause[] _causes = new StreamCloseCause[capacity];
    private int _next;

    public void Remember(int streamId, StreamCloseCause cause)
    {
        _ids[_next] = streamId;
        _causes[_next] = cause;
        _next = (_next + 1) % _ids.Length;
    }

    /// <summary>The most recent cause remembered for the id (a server reset may follow the client's end of a stream).</summary>
    public StreamCloseCause CauseOf(int streamId)
    {
        for (int i = 1; i <= _ids.Length; i++)
        {
            int slot = (_next - i + _ids.Length) % _ids.Length;
            if (_ids[slot] == streamId)
            {
                return _causes[slot];
            }
        }

        return StreamCloseCause.Unknown;
    }
}
