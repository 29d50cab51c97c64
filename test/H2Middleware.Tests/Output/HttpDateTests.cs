using H2Middleware.Output;
using H2Middleware.ServeLoop;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.Output;

public class HttpDateTests
{
    [Fact]
    public void TheValueIsTheCurrentSecondInRfc9110Format()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 9, 30, 15, 250, TimeSpan.Zero));
        var date = new HttpDate(time, new LoopClock(time));

        Assert.Equal("Sun, 06 Dec 2026 09:30:15 GMT", date.Current);
    }

    [Fact]
    public void TheValueChangesWithTheSecondOnceTheLoopClockHasMoved()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 9, 30, 15, 900, TimeSpan.Zero));
        var clock = new LoopClock(time);
        var date = new HttpDate(time, clock);
        Assert.Equal("Sun, 06 Dec 2026 09:30:15 GMT", date.Current);

        time.Advance(TimeSpan.FromMilliseconds(50));
        clock.Tick();
        Assert.Equal("Sun, 06 Dec 2026 09:30:15 GMT", date.Current);

        time.Advance(TimeSpan.FromMilliseconds(60));
        clock.Tick();
        Assert.Equal("Sun, 06 Dec 2026 09:30:16 GMT", date.Current);

        time.Advance(TimeSpan.FromSeconds(61));
        clock.Tick();
        Assert.Equal("Sun, 06 Dec 2026 09:31:17 GMT", date.Current);
    }

    [Fact]
    public void WithinABatchTheWallClockIsNotReadAgain()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 9, 30, 15, 0, TimeSpan.Zero));
        var clock = new LoopClock(time);
        var date = new HttpDate(time, clock);
        string first = date.Current;

        // The second changes, but the batch that began before it has not ended: the batch keeps its date.
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Same(first, date.Current);
    }
}
