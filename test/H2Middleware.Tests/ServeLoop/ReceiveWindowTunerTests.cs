using H2Middleware.ServeLoop;
using Microsoft.Extensions.Time.Testing;

namespace H2Middleware.Tests.ServeLoop;

/// <summary>The adaptive receive windows' decisions on their own, on a fake clock read once per batch as the loop reads it.</summary>
public class ReceiveWindowTunerTests
{
    private const int Window = 100_000;

    private static readonly TimeSpan RoundTrip = TimeSpan.FromMilliseconds(50);

    private readonly FakeTimeProvider _time = new();
    private readonly LoopClock _clock;

    public ReceiveWindowTunerTests() => _clock = new LoopClock(_time);

    private ReceiveWindowTuner Tuner(bool enabled = true, int max = 1_000_000) => new(_clock, enabled, Window, Window, max, max);

    private void Advance(TimeSpan time)
    {
        _time.Advance(time);
        _clock.Tick();
    }

    /// <summary>A sample whose ACK only starts the measure.</summary>
    private ReceiveWindowTuner Started(ReceiveWindowTuner tuner)
    {
        Advance(TimeSpan.Zero);
        Assert.True(tuner.OnDataReceived(0, windowMayLimit: true, out ulong ping));
        Advance(RoundTrip);
        Assert.False(tuner.OnPingAcknowledged(ping));
        return tuner;
    }

    /// <summary>
    /// A sample whose ACK comes <paramref name="sinceLastAck"/> (default: one round trip) after the last one, with
    /// <paramref name="bytes"/> of DATA in between; its PING went out <paramref name="roundTrip"/> before its ACK.
    /// Returns whether the windows grew.
    /// </summary>
    private bool Measure(ReceiveWindowTuner tuner, long bytes, TimeSpan? roundTrip = null, TimeSpan? sinceLastAck = null)
    {
        TimeSpan trip = roundTrip ?? RoundTrip;
        Advance((sinceLastAck ?? trip) - trip);
        Assert.True(tuner.OnDataReceived(0, windowMayLimit: true, out ulong ping));
        for (long counted = 0; counted < bytes; counted += 10_000)
        {
            Assert.False(tuner.OnDataReceived((int)Math.Min(10_000, bytes - counted), windowMayLimit: true, out _));
        }

        Advance(trip);
        return tuner.OnPingAcknowledged(ping);
    }

    [Fact]
    public void NoSampleStartsUnlessTheWindowMayBeWhatLimitsTheClient()
    {
        ReceiveWindowTuner tuner = Tuner();

        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: false, out _));
        Assert.True(tuner.OnDataReceived(16_384, windowMayLimit: true, out ulong ping));
        Assert.Equal(ReceiveWindowTuner.PingDataPrefix, ping & 0xFFFF_FFFF_FF00_0000);
        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
    }

    [Fact]
    public void TheFirstAckOnlyStartsTheMeasure()
    {
        ReceiveWindowTuner tuner = Tuner();
        Assert.True(tuner.OnDataReceived(1_000_000, windowMayLimit: true, out ulong ping));
        Assert.False(tuner.OnDataReceived(1_000_000, windowMayLimit: true, out _));
        Advance(RoundTrip);

        Assert.False(tuner.OnPingAcknowledged(ping));

        Assert.Equal((Window, Window), (tuner.ConnectionWindow, tuner.StreamWindow));
    }

    [Fact]
    public void AnEstimateOfTwoFifthsOfTheWindowDoublesIt()
    {
        ReceiveWindowTuner tuner = Started(Tuner());

        Assert.True(Measure(tuner, 40_000));

        Assert.Equal((200_000, 200_000), (tuner.ConnectionWindow, tuner.StreamWindow));
    }

    [Fact]
    public void AnEstimateLargerThanTheWindowGrowsItToTwiceTheEstimate()
    {
        ReceiveWindowTuner tuner = Started(Tuner());

        Assert.True(Measure(tuner, 130_000));

        Assert.Equal(260_000, tuner.ConnectionWindow);
    }

    [Fact]
    public void TheRateIsTakenFromAckToAck()
    {
        // 100,000 bytes between ACKs 200 ms apart are 25,000 bytes a 50 ms round trip: a quarter of the window.
        ReceiveWindowTuner tuner = Started(Tuner());
        Assert.False(Measure(tuner, 100_000, sinceLastAck: TimeSpan.FromMilliseconds(200)));
        Assert.Equal(Window, tuner.ConnectionWindow);

        Assert.True(Measure(Started(Tuner()), 100_000, sinceLastAck: RoundTrip));
    }

    [Fact]
    public void ASmallEstimateLeavesTheWindowsAndSpacesTheNextSamples()
    {
        ReceiveWindowTuner tuner = Started(Tuner());

        Assert.False(Measure(tuner, 39_999));
        Assert.Equal(Window, tuner.ConnectionWindow);

        Advance(TimeSpan.FromMilliseconds(99));
        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
        Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(tuner.OnDataReceived(16_384, windowMayLimit: true, out ulong ping));

        // A second small estimate doubles the spacing.
        Assert.False(tuner.OnPingAcknowledged(ping));
        Advance(TimeSpan.FromMilliseconds(199));
        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
        Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
    }

    [Fact]
    public void AFullEstimateAtNoHigherRateThanBeforeDoesNotGrowTheWindows()
    {
        ReceiveWindowTuner tuner = Started(Tuner());
        Assert.True(Measure(tuner, 100_000, TimeSpan.FromMilliseconds(10)));
        Assert.Equal(200_000, tuner.ConnectionWindow);

        // The window was doubled, yet twice the bytes took more than twice as long: the window is not the bottleneck.
        Assert.False(Measure(tuner, 200_000, TimeSpan.FromMilliseconds(25), sinceLastAck: TimeSpan.FromMilliseconds(35)));

        Assert.Equal(200_000, tuner.ConnectionWindow);
    }

    [Fact]
    public void TheWindowsNeverGrowPastTheirMaximumsAndSamplingThenStops()
    {
        ReceiveWindowTuner tuner = Started(new ReceiveWindowTuner(_clock, enabled: true, Window, Window, maxConnectionWindow: 300_000, maxStreamWindow: 150_000));
        Assert.True(Measure(tuner, 100_000));
        Assert.Equal((200_000, 150_000), (tuner.ConnectionWindow, tuner.StreamWindow));

        // An estimate of 72,000 bytes: two fifths of the smaller (stream) window is enough, the connection window may be
        // what limits the streams.
        Assert.True(Measure(tuner, 192_000, TimeSpan.FromMilliseconds(30), sinceLastAck: TimeSpan.FromMilliseconds(80)));
        Assert.Equal((300_000, 150_000), (tuner.ConnectionWindow, tuner.StreamWindow));

        Advance(TimeSpan.FromMinutes(1));
        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
    }

    [Fact]
    public void AMaximumBelowAnInitialWindowLeavesThatWindowAsItIs()
    {
        var options = new Http2ServeLoopOptions { MaxReceiveWindowSize = 900_000 };
        options.Validate();
        ReceiveWindowTuner tuner = Started(ReceiveWindowTuner.For(options, _clock));

        Assert.True(Measure(tuner, 1_000_000));

        Assert.Equal((options.InitialConnectionWindowSize, 900_000), (tuner.ConnectionWindow, tuner.StreamWindow));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Http2ServeLoopOptions { MaxReceiveWindowSize = 65_534 }.Validate());
    }

    [Fact]
    public void AStreamWindowNeverGrowsPastTheRequestBufferLimit()
    {
        var options = new Http2ServeLoopOptions { MaxRequestBufferSizePerStream = 1_000_000 };
        ReceiveWindowTuner tuner = Started(ReceiveWindowTuner.For(options, _clock));

        Assert.True(Measure(tuner, 1_000_000));

        Assert.Equal((2_000_000, 1_000_000), (tuner.ConnectionWindow, tuner.StreamWindow));
    }

    [Fact]
    public void OnlyTheExactDataOfTheOutstandingPingEndsTheSample()
    {
        ReceiveWindowTuner tuner = Started(Tuner());
        Assert.True(tuner.OnDataReceived(100_000, windowMayLimit: true, out ulong ping));
        Advance(RoundTrip);

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
        ReceiveWindowTuner tuner = Started(Tuner());
        Assert.True(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));

        for (int i = 0; i < 100; i++)
        {
            Advance(TimeSpan.FromSeconds(1));
            Assert.False(tuner.OnDataReceived(1_000_000, windowMayLimit: true, out _));
        }

        Assert.Equal((Window, Window), (tuner.ConnectionWindow, tuner.StreamWindow));
    }

    [Fact]
    public void WhenOffNoSampleEverStarts()
    {
        ReceiveWindowTuner tuner = Tuner(enabled: false);

        Assert.False(tuner.OnDataReceived(16_384, windowMayLimit: true, out _));
    }
}
