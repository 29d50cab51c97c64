namespace H2Middleware.Protocol;

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
