using System.Diagnostics.CodeAnalysis;
using H2Middleware.Telemetry;

namespace H2Middleware.Protocol;

/// <summary>
/// The connection's streams: the entries by id, the pool of recycled entries, the count of open streams, and how the
/// last closed streams ended (kept after their entries are recycled, so late frames are still judged by who closed
/// the stream). A closed entry stays in the table until nothing of its handler side can touch it any more, so that the
/// handler's last messages find it; ids are never reused, so a message for a recycled entry finds nothing.
/// </summary>
internal sealed class StreamTable(Func<StreamEntry> createEntry, int poolCapacity, int closedStreamMemory, ConnectionMetrics metrics)
{
    private Dictionary<int, StreamEntry> _entries = [];
    private readonly Stack<StreamEntry> _pool = new();
    private readonly ClosedStreams _closed = new(closedStreamMemory);

    /// <summary>Streams not yet closed: open, half-closed, or reserved (local) for a push.</summary>
    public int OpenCount { get; private set; }

    /// <summary>The streams of <see cref="OpenCount"/> that we push (even ids): our push limit counts them.</summary>
    public int PushedCount { get; private set; }

    /// <summary>The streams of <see cref="OpenCount"/> the client opened: the ones our SETTINGS_MAX_CONCURRENT_STREAMS counts.</summary>
    public int ClientOpenCount => OpenCount - PushedCount;

    /// <summary>Every entry not yet recycled, closed ones included.</summary>
    public Dictionary<int, StreamEntry>.ValueCollection Entries => _entries.Values;

    public bool TryGet(int streamId, [NotNullWhen(true)] out StreamEntry? stream) => _entries.TryGetValue(streamId, out stream);

    /// <summary>The stream's entry while the stream is open.</summary>
    public StreamEntry? FindOpen(int streamId) => _entries.TryGetValue(streamId, out StreamEntry? stream) && !stream.IsClosed ? stream : null;

    /// <summary>Opens a stream on a pooled entry, or on a new one.</summary>
    public StreamEntry Open(int streamId, int sendWindow, int receiveWindow) => Add(streamId, sendWindow, receiveWindow, StreamEvent.Opened);

    /// <summary>Reserves a stream we promise to the client (server push): it has no request body, so no receive window.</summary>
    public StreamEntry Reserve(int streamId, int sendWindow)
    {
        PushedCount++;
        return Add(streamId, sendWindow, receiveWindow: 0, StreamEvent.Reserved);
    }

    private StreamEntry Add(int streamId, int sendWindow, int receiveWindow, StreamEvent opening)
    {
        if (!_pool.TryPop(out StreamEntry? stream))
        {
            stream = createEntry();
        }

        stream.Open(streamId, sendWindow, receiveWindow, opening);
        _entries.Add(streamId, stream);
        OpenCount++;
        metrics.StreamOpened(streamId);
        return stream;
    }

    /// <summary>The stream just reached "closed": it no longer counts, and how it ended is remembered.</summary>
    public void OnClosed(StreamEntry stream)
    {
        OpenCount--;
        metrics.StreamClosed(stream.StreamId);
        TimeSpan stalled = stream.StreamWindowBlockedTime + stream.ConnectionWindowBlockedTime;
        if (stalled > TimeSpan.Zero)
        {
            metrics.RecordStall(stalled);
        }

        if ((stream.StreamId & 1) == 0)
        {
            PushedCount--;
        }

        StreamCloseCause cause = stream.Lifecycle.CloseCause;
        if (cause != StreamCloseCause.ResetByServer)
        {
            // Our own resets are remembered when the RST_STREAM is queued, for ids that have no entry too.
            _closed.Remember(stream.StreamId, cause);
        }
    }

    /// <summary>
    /// The client changed SETTINGS_INITIAL_WINDOW_SIZE: RFC 9113 §6.9.2 applies the difference to every open stream's
    /// send window, which may go negative. False when a window would exceed 2^31−1.
    /// </summary>
    public bool TryChangeSendWindows(long delta)
    {
        foreach (StreamEntry stream in _entries.Values)
        {
            if (!stream.IsClosed && !stream.SendWindow.TryApplyInitialSizeChange(delta))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>We sent RST_STREAM for the id: frames the client sent before seeing it are ignored (RFC 9113 §5.1).</summary>
    public void RememberReset(int streamId) => _closed.Remember(streamId, StreamCloseCause.ResetByServer);

    /// <summary>How a stream that is no longer open was closed, whether or not its entry is still in the table.</summary>
    public StreamCloseCause CloseCauseOf(int streamId) => _closed.CauseOf(streamId);

    /// <summary>Entries recycled and waiting for another stream.</summary>
    public int PooledCount => _pool.Count;

    /// <summary>
    /// Lets the pooled entries go, to be collected, and the table's storage when it holds no entry (it is as large as
    /// the most streams ever held at once): the connection is idle, and a busy one makes them again.
    /// </summary>
    public void ReleasePool()
    {
        _pool.Clear();
        _pool.TrimExcess();
        if (_entries.Count == 0)
        {
            _entries = [];
        }
    }

    /// <summary>The connection has ended and every handler has returned: the streams still in the table give back their memory.</summary>
    public void ReleaseEntriesMemory()
    {
        foreach (StreamEntry entry in _entries.Values)
        {
            entry.Stream.ReleaseMemory();
        }
    }

    /// <summary>Drops a closed entry that nothing uses any more and pools it for another stream.</summary>
    public void Recycle(StreamEntry stream)
    {
        _entries.Remove(stream.StreamId);
        stream.Recycle();
        if (_pool.Count < poolCapacity)
        {
            _pool.Push(stream);
        }
    }
}
