namespace H2Middleware.Tests.ServeLoop.Harness;

/// <summary>A clock that counts the timers made through it and not yet disposed, to find a connection that leaves timers behind.</summary>
internal sealed class CountingTimeProvider(TimeProvider inner) : TimeProvider
{
    private int _liveTimers;

    public int LiveTimers => Volatile.Read(ref _liveTimers);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Interlocked.Increment(ref _liveTimers);
        return new CountedTimer(this, inner.CreateTimer(callback, state, dueTime, period));
    }

    public override long GetTimestamp() => inner.GetTimestamp();

    public override long TimestampFrequency => inner.TimestampFrequency;

    public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

    private sealed class CountedTimer(CountingTimeProvider owner, ITimer timer) : ITimer
    {
        private int _disposed;

        public bool Change(TimeSpan dueTime, TimeSpan period) => timer.Change(dueTime, period);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref owner._liveTimers);
            }

            timer.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
