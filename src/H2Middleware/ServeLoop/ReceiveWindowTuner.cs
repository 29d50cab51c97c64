namespace H2Middleware.ServeLoop;

/// <summary>
/// Adaptive receive windows: estimates the connection's bandwidth-delay product and grows the receive windows while
/// they are what holds the client back. On a long path a fixed window caps an upload at a window per round trip, and
/// since freed bytes go back in batches of half a window, in practice at little more than half of one.
/// <para>
/// Samples. When request DATA arrives for a handler that reads and the client has used at least half of a window (a
/// smaller upload cannot be held back by the window, nor can one whose handler does not read), a PING goes out; its
/// round trip time is the path's. The DATA that arrives between the ACKs of two samples gives the rate; rate × round
/// trip is the estimate. The rate is taken from ACK to ACK rather than over the PING's own round trip because a client
/// held back by its window sends in bursts, one a round trip, as window comes back, and the PING leaves with that
/// window: the ACK comes back just ahead of the next burst, so a single round trip would hold none; ACK to ACK holds
/// whole bursts. The first ACK only starts the measure.
/// </para>
/// <para>
/// Growth. An estimate of at least two fifths of the window (a client held back by the window sends a half to a whole
/// window per round trip), at a rate above any before, means the window may be the bottleneck: the windows double (or
/// grow to twice the estimate, if larger), up to their maximum, and the next sample waits a round trip for the client
/// to use them. Any other estimate means the window is large enough, and the next sample waits longer (100 ms, doubling
/// to 2 s). At the maximum, sampling stops. The rate rule stops growth that brings nothing, as on a fast path where the
/// server, not the window, is the bottleneck and a larger window would only hold more bytes in its buffers.
/// </para>
/// </summary>
internal sealed class ReceiveWindowTuner
{
    /// <summary>The opaque data of a sample's PING: "H2BDP", then a sequence number in the low three bytes.</summary>
    public const ulong PingDataPrefix = 0x4832_4244_5000_0000;

    private const int SequenceMask = 0xFF_FFFF;

    private static readonly TimeSpan FirstSpacing = TimeSpan.FromMilliseconds(100);

    private static readonly TimeSpan MaxSpacing = TimeSpan.FromSeconds(2);

    private readonly LoopClock _clock;
    private readonly int _maxConnectionWindow;
    private readonly int _maxStreamWindow;
    private bool _sampling;
    private int _sequence;

    // The sample in progress: its PING and when it went out.
    private ulong? _pingData;
    private long _pingSentAt;

    // Since the last ACK (null before the first): when it came and the DATA bytes since.
    private long? _lastAckAt;
    private long _bytesSinceLastAck;

    // The best rate so far (bytes per tick), and how long after the last ACK the next sample may start.
    private double _bestRate;
    private TimeSpan _spacing;

    public ReceiveWindowTuner(LoopClock clock, bool enabled, int connectionWindow, int streamWindow, int maxConnectionWindow, int maxStreamWindow)
    {
        _clock = clock;
        ConnectionWindow = connectionWindow;
        StreamWindow = streamWindow;
        _maxConnectionWindow = Math.Max(connectionWindow, maxConnectionWindow);
        _maxStreamWindow = Math.Max(streamWindow, maxStreamWindow);
        _sampling = enabled && !AtMaximum;
    }

    /// <summary>The size the connection's receive window should have.</summary>
    public int ConnectionWindow { get; private set; }

    /// <summary>The size the receive window of a stream whose handler reads its body should have.</summary>
    public int StreamWindow { get; private set; }

    private bool AtMaximum => ConnectionWindow == _maxConnectionWindow && StreamWindow == _maxStreamWindow;

    /// <summary>
    /// The tuner for a connection with these options. A stream's window never grows past <c>MaxRequestBufferSizePerStream</c>:
    /// a handler that does not read could otherwise be sent more than that limit allows it to hold.
    /// </summary>
    public static ReceiveWindowTuner For(Http2ServeLoopOptions options, LoopClock clock) => new(
        clock,
        options.EnableAdaptiveReceiveWindows,
        options.InitialConnectionWindowSize,
        options.InitialStreamWindowSize,
        options.MaxReceiveWindowSize,
        Math.Min(options.MaxReceiveWindowSize, options.MaxRequestBufferSizePerStream));

    /// <summary>
    /// Request DATA arrived (its flow-controlled length); <paramref name="windowMayLimit"/> when the client has used at
    /// least half of its stream's or the connection's window and the stream's handler reads. True when a sample starts:
    /// send a PING with <paramref name="pingData"/>.
    /// </summary>
    public bool OnDataReceived(int bytes, bool windowMayLimit, out ulong pingData)
    {
        pingData = 0;
        if (!_sampling)
        {
            return false;
        }

        _bytesSinceLastAck += bytes;
        if (_pingData is not null || !windowMayLimit || (_lastAckAt is { } lastAck && _clock.Since(lastAck) < _spacing))
        {
            return false;
        }

        _sequence = (_sequence + 1) & SequenceMask;
        pingData = PingDataPrefix | (uint)_sequence;
        _pingData = pingData;
        _pingSentAt = _clock.Now;
        return true;
    }

    /// <summary>A PING ack arrived. True when it ended our sample and the windows grew (their new sizes are <see cref="ConnectionWindow"/> and <see cref="StreamWindow"/>).</summary>
    public bool OnPingAcknowledged(ulong pingData)
    {
        if (_pingData != pingData)
        {
            return false;
        }

        _pingData = null;
        long? previousAck = _lastAckAt;
        long bytes = _bytesSinceLastAck;
        _lastAckAt = _clock.Now;
        _bytesSinceLastAck = 0;
        if (previousAck is null)
        {
            return false;
        }

        // On a clock that has not moved, a round trip and the time between ACKs count alike.
        long roundTrip = Math.Max(_clock.Since(_pingSentAt).Ticks, 1);
        double rate = bytes / (double)Math.Max(_clock.Since(previousAck.Value).Ticks, 1);
        double estimate = rate * roundTrip;
        long window = Math.Min(ConnectionWindow, StreamWindow);
        bool windowBound = 5 * estimate >= 2 * window;
        bool faster = rate > _bestRate;
        _bestRate = Math.Max(_bestRate, rate);
        if (!windowBound || !faster)
        {
            _spacing = _spacing < FirstSpacing ? FirstSpacing : TimeSpan.FromTicks(Math.Min(2 * _spacing.Ticks, MaxSpacing.Ticks));
            return false;
        }

        long target = 2 * Math.Max((long)estimate, window);
        ConnectionWindow = (int)Math.Clamp(target, ConnectionWindow, _maxConnectionWindow);
        StreamWindow = (int)Math.Clamp(target, StreamWindow, _maxStreamWindow);
        _spacing = TimeSpan.FromTicks(roundTrip);
        _sampling = !AtMaximum;
        return true;
    }
}
