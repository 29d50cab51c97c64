namespace H2Middleware.Protocol;

/// <summary>
/// Our receive window for a stream or the connection (RFC 9113 §5.2, §6.9): how much DATA the client may still send,
/// and the bytes freed since the last WINDOW_UPDATE. Freed bytes go back in one WINDOW_UPDATE once they reach
/// <see cref="RefundShare"/> of the window: fewer, larger updates, and the client never waits on a nearly full window.
/// </summary>
internal sealed class InboundWindow
{
    /// <summary>Freed bytes are announced once they reach a half of the window.</summary>
    public const int RefundShare = 2;

    private int _size;
    private int _freed;

    public InboundWindow(int size = 0) => Reset(size);

    /// <summary>How much DATA the client may still send.</summary>
    public int Available { get; private set; }

    public void Reset(int size)
    {
        _size = size;
        _freed = 0;
        Available = size;
    }

    /// <summary>Takes a received frame's flow-controlled length; false (and nothing taken) when it exceeds the window.</summary>
    public bool TryReceive(int bytes)
    {
        if (bytes > Available)
        {
            return false;
        }

        Available -= bytes;
        return true;
    }

    /// <summary>Bytes the client may send again, announced by the next update that is due.</summary>
    public void Free(int bytes) => _freed += bytes;

    /// <summary>The WINDOW_UPDATE increment due now (the freed bytes, once enough), or 0; the window grows by it.</summary>
    public int TakeDueUpdate()
    {
        if (_freed == 0 || _freed < _size / RefundShare)
        {
            return 0;
        }

        int increment = _freed;
        Available += increment;
        _freed = 0;
        return increment;
    }
}
