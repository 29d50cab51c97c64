using H2Middleware.ServeLoop;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>The keep-alive PING's decisions on their own, on a fake clock read once per batch as the loop reads it.</summary>
public class KeepAlivePingStepTests
{
    private static readonly TimeSpan Delay = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    [Fact]
    public void AQuietConnectionIsPingedAndAClientThatNeverAnswersIsGone()
    {
        var time = new FakeTimeProvider();
        var clock = new LoopClock(time);
        var ping = new KeepAlivePing(clock, Delay, Timeout);

        time.Advance(TimeSpan.FromSeconds(4));

        clock.Tick();
        Assert.Equal(KeepAlivePing.Step.Wait, ping.OnTimer(out TimeSpan next));
        Assert.Equal(TimeSpan.FromSeconds(6), next);

        time.Advance(TimeSpan.FromSeconds(6));

        clock.Tick();
        Assert.Equal(KeepAlivePing.Step.SendPing, ping.OnTimer(out next));
        Assert.Equal(Timeout, next);

        time.Advance(TimeSpan.FromSeconds(1));

        clock.Tick();
        Assert.Equal(KeepAlivePing.Step.Wait, ping.OnTimer(out next));
        Assert.Equal(TimeSpan.FromSeconds(2), next);

        time.Advance(TimeSpan.FromSeconds(2));

        clock.Tick();
        Assert.Equal(KeepAlivePing.Step.ClientGone, ping.OnTimer(out _));
    }

    [Fact]
    public void ReadsPostponeThePingAndAnAckEndsTheWait()
    {
        var time = new FakeTimeProvider();
        var clock = new LoopClock(time);
        var ping = new KeepAlivePing(clock, Delay, Timeout);

        time.Advance(TimeSpan.FromSeconds(8));

        clock.Tick();
        ping.NoteRead();
        time.Advance(TimeSpan.FromSeconds(8));
        clock.Tick();
        Assert.Equal(KeepAlivePing.Step.Wait, ping.OnTimer(out TimeSpan next));
        Assert.Equal(TimeSpan.FromSeconds(2), next);

        time.Advance(next);

        clock.Tick();
        Assert.Equal(KeepAlivePing.Step.SendPing, ping.OnTimer(out _));
        Assert.True(ping.OnAcknowledged());
        Assert.False(ping.OnAcknowledged());

        ping.NoteRead();
        time.Advance(TimeSpan.FromSeconds(5));
        clock.Tick();
        Assert.Equal(KeepAlivePing.Step.Wait, ping.OnTimer(out _));
    }

    [Fact]
    public void AnInfiniteDelayTurnsItOff()
    {
        Assert.False(new KeepAlivePing(new LoopClock(new FakeTimeProvider()), System.Threading.Timeout.InfiniteTimeSpan, Timeout).Enabled);
        Assert.True(new KeepAlivePing(new LoopClock(new FakeTimeProvider()), Delay, Timeout).Enabled);
    }
}
