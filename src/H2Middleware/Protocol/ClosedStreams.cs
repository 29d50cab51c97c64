namespace H2Middleware.Protocol;

/// <summary>
/// The ids of the last streams to close and how each closed, kept after the stream objects are recycled so that late
/// frames are still judged by who closed the stream. Bounded: the oldest entries are forgotten. The ring starts empty
/// and doubles up to its capacity as streams close, so a connection that served a few streams remembers them cheaply.
/// </summary>
internal sealed class ClosedStreams(int capacity)
{
    private const int InitialCapacity = 8;

    private int[] _ids = [];
    private StreamCloseCause[] _causes = [];
    private int _count;
    private int _next;

    public void Remember(int streamId, StreamCloseCause cause)
    {
        if (_count == _ids.Length && _ids.Length < capacity)
        {
            // A ring that has not reached its capacity has never overwritten an entry: they sit in order from slot 0.
            int grown = Math.Min(capacity, Math.Max(InitialCapacity, 2 * _ids.Length));
            Array.Resize(ref _ids, grown);
            Array.Resize(ref _causes, grown);
            _next = _count;
        }

        _ids[_next] = streamId;
        _causes[_next] = cause;
        _next = (_next + 1) % _ids.Length;
        _count = Math.Min(_count + 1, _ids.Length);
    }

    /// <summary>The most recent cause remembered for the id (a server reset may follow the client's end of a stream).</summary>
    public StreamCloseCause CauseOf(int streamId)
    {
        for (int i = 1; i <= _count; i++)
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
