namespace H2Middleware.ServeLoop;

/// <summary>
/// The serve loop's "now", read once per batch of work rather than at every stream event: reading the clock is a system
/// call's worth of work (2% of a small request's CPU when each turn read it twice), and the per-stream accounting that
/// uses it (scheduling waits, idle and read times) needs no finer grain than a batch.
/// </summary>
internal sealed class LoopClock(TimeProvider time)
{
    /// <summary>The <see cref="TimeProvider"/> timestamp of the current batch.</summary>
    public long Now { get; private set; } = time.GetTimestamp();

    /// <summary>A new batch of work begins.</summary>
    public void Tick() => Now = time.GetTimestamp();

    /// <summary>The time from <paramref name="timestamp"/> to the current batch.</summary>
    public TimeSpan Since(long timestamp) => time.GetElapsedTime(timestamp, Now);
}
