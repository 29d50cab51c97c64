namespace H2Middleware.ServeLoop;

/// <summary>
/// The serve loop's one-shot timers, one of each <see cref="ServeLoopTimer"/> kind at most. A timer that fires posts
/// <see cref="ServeLoopMessageKind.TimerFired"/>: the loop, not the timer's thread, acts on it.
/// </summary>
internal sealed class LoopTimers(TimeProvider time, Action<ServeLoopTimer> fire)
{
    private readonly ITimer?[] _timers = new ITimer?[(int)ServeLoopTimer.Close + 1];

    /// <summary>Starts the timer to fire once after <paramref name="dueTime"/>, replacing any earlier due time.</summary>
    public void Arm(ServeLoopTimer which, TimeSpan dueTime)
    {
        ref ITimer? timer = ref _timers[(int)which];
        if (timer is null)
        {
            timer = time.CreateTimer(static state => ((Target)state!).Fire(), new Target(fire, which), dueTime, Timeout.InfiniteTimeSpan);
        }
        else
        {
            timer.Change(dueTime, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Starts the timer unless it is already armed.</summary>
    public void ArmOnce(ServeLoopTimer which, TimeSpan dueTime)
    {
        if (!IsArmed(which))
        {
            Arm(which, dueTime);
        }
    }

    /// <summary>Stops the timer; if it already fired, <see cref="IsArmed"/> tells the loop to ignore the message.</summary>
    public void Cancel(ServeLoopTimer which)
    {
        ref ITimer? timer = ref _timers[(int)which];
        timer?.Dispose();
        timer = null;
    }

    public bool IsArmed(ServeLoopTimer which) => _timers[(int)which] is not null;

    /// <summary>What a timer's callback needs: one small object per timer, where a closure and its delegate took three times the space.</summary>
    private sealed class Target(Action<ServeLoopTimer> fire, ServeLoopTimer which)
    {
        public void Fire() => fire(which);
    }

    public void DisposeAll()
    {
        for (int i = 0; i < _timers.Length; i++)
        {
            _timers[i]?.Dispose();
            _timers[i] = null;
        }
    }
}
