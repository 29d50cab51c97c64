namespace H2Middleware.Protocol;

/// <summary>
/// Our receive window for a stream or the connection (RFC 9113 §5.2, §6.9): how much DATA the client may still send,
/// and the bytes freed since the last WINDOW_UPDATE. Freed bytes go back in one WINDOW_UPDATE once they reach
/// <see cref="RefundShare"/> of the window: fewer, larger updates, and the client never waits on a nearly full window.
/// The window may grow (adaptive receive windows): a larger size is announced as a larger increment, at once or with
/// the next update that is due.
/// </summary>
internal sealed class InboundWindow
{
    /// <summary>Freed bytes are announced once they reach a half of the window.</summary>
    public const int RefundShare = 2;

    private int _freed;

    public InboundWindow(int size = 0) => Reset(size);

    /// <summary>How much DATA the client may still send.</summary>
    public int Available { get; private set; }

    /// <summary>The window's size as announced to the client.</summary>
    public int Size { get; private set; }

    /// <summary>The size the window will have once its pending growth is announced.</summary>
    public int TargetSize { get; private set; }

    /// <summary>The client has used at least half of the window: the window may be what limits it.</summary>
    public bool IsHalfUsed => Available <= Size / 2;

    public void Reset(int size)
    {
        Size = size;
        TargetSize = size;
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

    /// <summary>The window is to grow to <paramref name="size"/> (a smaller size changes nothing); announced by <see cref="TakeGrowth"/> or the next due update.</summary>
    public void GrowTo(int size) => TargetSize = Math.Max(TargetSize, size);

    /// <summary>The WINDOW_UPDATE increment that announces the pending growth now, or 0; the window grows by it.</summary>
    public int TakeGrowth()
    {
        int increment = TargetSize - Size;
        Size = TargetSize;
        Available += increment;
        return increment;
    }

    /// <summary>The WINDOW_UPDATE increment due now (the freed bytes, once enough, and any pending growth), or 0; the window grows by it.</summary>
    public int TakeDueUpdate()
    {
        if (_freed == 0 || _freed < Size / RefundShare)
        {
            return 0;
        }

        int increment = _freed + TakeGrowth();
        Available += _freed;
        _freed = 0;
        return increment;
    }
}
