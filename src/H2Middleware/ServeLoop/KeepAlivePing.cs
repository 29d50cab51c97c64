namespace H2Middleware.ServeLoop;

/// <summary>
/// Keep-alive PING (Kestrel's KeepAlivePingDelay/Timeout): after a quiet period without any frame from the client we
/// PING; a client that does not acknowledge within the timeout is gone, and so is the connection.
/// </summary>
internal sealed class KeepAlivePing(LoopClock clock, TimeSpan delay, TimeSpan timeout)
{
    /// <summary>The opaque data of the keep-alive PING.</summary>
    public const ulong Data = 0x4832_4B45_4550_414C;

    private long _lastReadAt = clock.Now;
    private long? _sentAt;

    public bool Enabled => delay != Timeout.InfiniteTimeSpan;

    public TimeSpan Delay => delay;

    public enum Step : byte
    {
        /// <summary>Nothing to do yet: the timer is due again after the returned time.</summary>
        Wait,

        /// <summary>The connection has been quiet for the delay: send the PING and wait the timeout for its ack.</summary>
        SendPing,

        /// <summary>The PING was not acknowledged in time: the client is gone.</summary>
        ClientGone,
    }

    /// <summary>Something arrived from the client.</summary>
    public void NoteRead() => _lastReadAt = clock.Now;

    /// <summary>What the timer means now; <paramref name="next"/> is when it is due again.</summary>
    public Step OnTimer(out TimeSpan next)
    {
        if (_sentAt is { } sentAt)
        {
            TimeSpan waited = clock.Since(sentAt);
            next = timeout - waited;
            return waited >= timeout ? Step.ClientGone : Step.Wait;
        }

        TimeSpan quiet = clock.Since(_lastReadAt);
        if (quiet < delay)
        {
            next = delay - quiet;
            return Step.Wait;
        }

        _sentAt = clock.Now;
        next = timeout;
        return Step.SendPing;
    }

    /// <summary>The client acknowledged our PING; true when it was outstanding (the timer then waits the delay again).</summary>
    public bool OnAcknowledged()
    {
        if (_sentAt is null)
        {
            return false;
        }

        _sentAt = null;
        return true;
    }
}
