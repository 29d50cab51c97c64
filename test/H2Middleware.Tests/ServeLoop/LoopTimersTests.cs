using System.Collections.Concurrent;
using H2Middleware.ServeLoop;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>The loop's timers on their own, on a fake clock: one per kind, re-armed in place, cancelled for good.</summary>
public class LoopTimersTests
{
    [Fact]
    public void ATimerFiresOnceWhenDueAndReArmingMovesItsDueTime()
    {
        var time = new FakeTimeProvider();
        var fired = new ConcurrentQueue<ServeLoopTimer>();
        var timers = new LoopTimers(time, fired.Enqueue);

        timers.Arm(ServeLoopTimer.KeepAlive, TimeSpan.FromSeconds(5));
        time.Advance(TimeSpan.FromSeconds(3));
        timers.Arm(ServeLoopTimer.KeepAlive, TimeSpan.FromSeconds(5));
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Empty(fired);

        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal([ServeLoopTimer.KeepAlive], fired);
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.Single(fired);
    }

    [Fact]
    public void ArmOnceKeepsTheFirstDueTimeAndCancelStopsTheTimer()
    {
        var time = new FakeTimeProvider();
        var fired = new ConcurrentQueue<ServeLoopTimer>();
        var timers = new LoopTimers(time, fired.Enqueue);

        timers.ArmOnce(ServeLoopTimer.Close, TimeSpan.FromSeconds(5));
        timers.ArmOnce(ServeLoopTimer.Close, TimeSpan.FromSeconds(50));
        timers.Arm(ServeLoopTimer.Preface, TimeSpan.FromSeconds(1));
        timers.Cancel(ServeLoopTimer.Preface);

        Assert.True(timers.IsArmed(ServeLoopTimer.Close));
        Assert.False(timers.IsArmed(ServeLoopTimer.Preface));
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal([ServeLoopTimer.Close], fired);

        timers.DisposeAll();
        Assert.False(timers.IsArmed(ServeLoopTimer.Close));
    }
}
