using H2Middleware.ServeLoop;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>The adaptive receive windows' decisions on their own, on a fake clock read once per batch as the loop reads it.</summary>
public class ReceiveWindowTunerTests
{
    private const int Window = 100_000;

    private readonly FakeTimeProvider _time = new();
    private readonly LoopClock _clock;

    public ReceiveWindowTunerTests() => _clock = new LoopClock(_time);

    private ReceiveWindowTuner Tuner(bool enabled = true, int max = 1_000_000) => new(_clock, enabled, Window, Window, max, max);

    /// <summary>
    /// A round trip after the last sample (a grown window's first use), starts a sample in one batch and counts
    /// <paramref name="bytes"/> over the next ones, <paramref name="roundTrip"/> later; returns its PING's data.
    /// </summary>
    private ulong Sample(ReceiveWindowTuner tuner, long bytes, TimeSpan roundTrip)
    {
        _time.Advance(roundTrip);
        _clock.Tick();
        Assert.True(tuner.OnDataReceived(1_000, windowMayLimit: true, out ulong ping));
        _time.Advance(roundTrip);
        _clock.Tick();
        for (long counted = 0; counted < bytes; counted += 10_000)
        {
            Assert.False(tuner.OnDataReceived((int)Math.Min(10_000, bytes - counted), windowMayLimit: true, out _));
        }

        return ping;
    }

    [Fact]
    public void NoSampleStartsUnlessTheWindowMayBeWhatLimitsTheClient()
    {
        ReceiveWindowTuner tuner = Tuner();
        _clock.Tick();

        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: false, out _));
        Assert.True(tuner.OnDataReceived(16_384, windowMayLimit: true, out ulong ping));
        Assert.Equal(ReceiveWindowTuner.PingDataPrefix, ping & 0xFFFF_FFFF_FF00_0000);
        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
    }

    [Fact]
    public void ASampleThatFillsTwoThirdsOfTheWindowDoublesIt()
    {
        ReceiveWindowTuner tuner = Tuner();
        ulong ping = Sample(tuner, 70_000, TimeSpan.FromMilliseconds(50));

        Assert.True(tuner.OnPingAcknowledged(ping));

        Assert.Equal(140_000, tuner.ConnectionWindow);
        Assert.Equal(140_000, tuner.StreamWindow);
    }

    [Fact]
    public void ASmallSampleLeavesTheWindowsAndSpacesTheNextSamples()
    {
        ReceiveWindowTuner tuner = Tuner();
        ulong ping = Sample(tuner, 60_000, TimeSpan.FromMilliseconds(50));

        Assert.False(tuner.OnPingAcknowledged(ping));
        Assert.Equal(Window, tuner.ConnectionWindow);

        _time.Advance(TimeSpan.FromMilliseconds(99));
        _clock.Tick();
        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        _clock.Tick();
        Assert.True(tuner.OnDataReceived(16_384, windowMayLimit: true, out ping));

        // A second quiet sample doubles the spacing.
        Assert.False(tuner.OnPingAcknowledged(ping));
        _time.Advance(TimeSpan.FromMilliseconds(199));
        _clock.Tick();
        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        _clock.Tick();
        Assert.True(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
    }

    [Fact]
    public void BytesHandledInTheBatchThatQueuedThePingAreNotPartOfTheSample()
    {
        ReceiveWindowTuner tuner = Tuner();
        _clock.Tick();
        Assert.True(tuner.OnDataReceived(16_384, windowMayLimit: true, out ulong ping));
        for (int i = 0; i < 10; i++)
        {
            tuner.OnDataReceived(16_384, windowMayLimit: true, out _);
        }

        _clock.Tick();
        tuner.OnDataReceived(16_384, windowMayLimit: true, out _);

        Assert.False(tuner.OnPingAcknowledged(ping));
    }

    [Fact]
    public void AFullSampleThatIsNoFasterThanAnEarlierOneDoesNotGrowTheWindows()
    {
        ReceiveWindowTuner tuner = Tuner();
        Assert.True(tuner.OnPingAcknowledged(Sample(tuner, 100_000, TimeSpan.FromMilliseconds(10))));
        Assert.Equal(200_000, tuner.ConnectionWindow);

        // The window was doubled, yet twice the bytes took more than twice as long: the window is not the bottleneck.
        Assert.False(tuner.OnPingAcknowledged(Sample(tuner, 200_000, TimeSpan.FromMilliseconds(25))));

        Assert.Equal(200_000, tuner.ConnectionWindow);
    }

    [Fact]
    public void TheWindowsNeverGrowPastTheirMaximumsAndSamplingThenStops()
    {
        var tuner = new ReceiveWindowTuner(_clock, enabled: true, Window, Window, maxConnectionWindow: 300_000, maxStreamWindow: 150_000);
        Assert.True(tuner.OnPingAcknowledged(Sample(tuner, 100_000, TimeSpan.FromMilliseconds(10))));
        Assert.Equal((200_000, 150_000), (tuner.ConnectionWindow, tuner.StreamWindow));

        // Two thirds of the smaller (stream) window is enough: the connection window may be what limits the streams.
        Assert.True(tuner.OnPingAcknowledged(Sample(tuner, 110_000, TimeSpan.FromMilliseconds(10))));
        Assert.Equal((220_000, 150_000), (tuner.ConnectionWindow, tuner.StreamWindow));

        Assert.True(tuner.OnPingAcknowledged(Sample(tuner, 1_000_000, TimeSpan.FromMilliseconds(10))));
        Assert.Equal((300_000, 150_000), (tuner.ConnectionWindow, tuner.StreamWindow));

        _time.Advance(TimeSpan.FromMinutes(1));
        _clock.Tick();
        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
    }

    [Fact]
    public void OnlyTheExactDataOfTheOutstandingPingEndsTheSample()
    {
        ReceiveWindowTuner tuner = Tuner();
        ulong ping = Sample(tuner, 100_000, TimeSpan.FromMilliseconds(10));

        Assert.False(tuner.OnPingAcknowledged(KeepAlivePing.Data));
        Assert.False(tuner.OnPingAcknowledged(ping + 1));
        Assert.False(tuner.OnPingAcknowledged(ping ^ 0x0100_0000));
        Assert.Equal(Window, tuner.ConnectionWindow);

        Assert.True(tuner.OnPingAcknowledged(ping));
        Assert.False(tuner.OnPingAcknowledged(ping));
    }

    [Fact]
    public void ASampleWhosePingIsNeverAcknowledgedBlocksOnlyFurtherSamples()
    {
        ReceiveWindowTuner tuner = Tuner();
        _clock.Tick();
        Assert.True(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));

        for (int i = 0; i < 100; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            _clock.Tick();
            Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
        }

        Assert.Equal((Window, Window), (tuner.ConnectionWindow, tuner.StreamWindow));
    }

    [Fact]
    public void WhenOffNoSampleEverStarts()
    {
        ReceiveWindowTuner tuner = Tuner(enabled: false);
        _clock.Tick();

        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
    }
}
