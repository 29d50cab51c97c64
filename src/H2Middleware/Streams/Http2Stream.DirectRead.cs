namespace H2Middleware.Streams;

/// <summary>
/// Direct reads: a handler that waits on an empty request pipe offers its buffer, and the serve loop copies the next
/// DATA payload into it instead of into the pipe (one copy instead of two, no pipe blocks). The offer is one reference
/// swapped atomically: the handler publishes and may withdraw it, the loop takes it; whoever swaps it out owns it.
/// Each side looks at the other's after its own step (the handler at the pipe after publishing, the loop for an offer
/// after writing to the pipe), so an offer never waits while bytes sit in the pipe.
/// </summary>
internal partial class Http2Stream
{
    private DirectReadCompletion _directReadCompletion = new();
    private DirectReadCompletion? _pendingDirectRead;

    /// <summary>Called by the handler's body reader with the pipe empty and <paramref name="consumed"/> bytes of the body read.</summary>
    public ValueTask<int> OfferDirectRead(Memory<byte> buffer, long consumed, out DirectReadCompletion offer)
    {
        offer = _directReadCompletion;
        ValueTask<int> completion = offer.Start(buffer, consumed);
        Interlocked.Exchange(ref _pendingDirectRead, offer);
        return completion;
    }

    /// <summary>Takes the offer back before the loop took it; false when the loop has it (its completion then follows).</summary>
    public bool TryWithdrawDirectRead(DirectReadCompletion offer) =>
        Interlocked.CompareExchange(ref _pendingDirectRead, null, offer) == offer;

    /// <summary>
    /// Called on the serve loop with a DATA payload to deliver: takes the handler's offer if there is one and the loop has
    /// delivered exactly what the handler had consumed when offering (or bytes still in the pipe would be overtaken).
    /// </summary>
    public bool TryTakeDirectRead(long delivered, out DirectReadCompletion offer)
    {
        offer = Volatile.Read(ref _pendingDirectRead)!;
        return offer is not null
            && offer.ConsumedWhenOffered == delivered
            && Interlocked.CompareExchange(ref _pendingDirectRead, null, offer) == offer;
    }

    /// <summary>
    /// Called on the serve loop after it wrote to the request pipe or completed it: an offer still pending is sent to the
    /// pipe, which holds what comes next (bytes, the end, an error). Without this a handler could offer after the loop
    /// looked for an offer and check the pipe before the loop wrote to it, and then wait for bytes already in the pipe.
    /// The exchange is a full fence: the pipe write is visible before the look.
    /// </summary>
    public void ReleaseDirectRead()
    {
        Interlocked.Exchange(ref _pendingDirectRead, null)?.Complete(DirectReadCompletion.ReadThePipe);
    }

    private void ResetDirectRead()
    {
        _pendingDirectRead = null;
        if (_directReadCompletion.IsCompleting)
        {
            _directReadCompletion = new DirectReadCompletion();
        }
    }
}
