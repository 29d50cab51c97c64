namespace H2Middleware.ServeLoop;

/// <summary>
/// Adaptive receive windows: measures the connection's bandwidth-delay product and grows the receive windows while they
/// are what holds the client back (on a long path a fixed window caps an upload at a window per round trip). A sample
/// starts when request DATA arrives for a handler that reads and the client has used at least half of a window (a
/// smaller upload cannot be held back by the window, nor can one whose handler does not read): a PING goes out, and the DATA
/// that arrives until its ACK is what the client sends in one round trip. A sample that reaches two thirds of the
/// window, at a higher rate (bytes per round trip time) than any before, means the window was the bottleneck: the
/// windows grow to twice the sample, up to their maximum, and the next sample waits a round trip for the client to use
/// them. Any other sample means the window is large enough, and the next one waits longer (100 ms, doubling to 10 s).
/// At the maximum, sampling stops. The rate rule stops growth that brings nothing, as on a fast path where the server,
/// not the window, is the bottleneck and a larger window would only hold more bytes in its buffers.
/// </summary>
internal sealed class ReceiveWindowTuner
{
    /// <summary>The opaque data of a sample's PING: "H2BDP", then a sequence number in the low three bytes.</summary>
    public const ulong PingDataPrefix = 0x4832_4244_5000_0000;

    private const int SequenceMask = 0xFF_FFFF;

    private static readonly TimeSpan FirstSpacing = TimeSpan.FromMilliseconds(100);

    private static readonly TimeSpan MaxSpacing = TimeSpan.FromSeconds(10);

    private readonly LoopClock _clock;
    private readonly int _maxConnectionWindow;
    private readonly int _maxStreamWindow;
    private bool _sampling;
    private int _sequence;

    // The sample in progress: its PING, when and in which batch it went out, the DATA bytes since.
    private ulong? _pingData;
    private long _pingSentAt;
    private long _pingBatch;
    private long _sampleBytes;

    // Between samples: the best rate so far (bytes per tick), and how long after the last sample the next may start.
    private double _bestRate;
    private long _lastSampleEndedAt;
    private TimeSpan _spacing;

    public ReceiveWindowTuner(LoopClock clock, bool enabled, int connectionWindow, int streamWindow, int maxConnectionWindow, int maxStreamWindow)
    {
        _clock = clock;
        ConnectionWindow = connectionWindow;
        StreamWindow = streamWindow;
        _maxConnectionWindow = Math.Max(connectionWindow, maxConnectionWindow);
        _maxStreamWindow = Math.Max(streamWindow, maxStreamWindow);
        _sampling = enabled && !AtMaximum;
        _lastSampleEndedAt = clock.Now;
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
        if (_pingData is not null)
        {
            // Bytes handled in the batch that queued the PING arrived before it was written.
            if (_clock.Batch != _pingBatch)
            {
                _sampleBytes += bytes;
            }

            return false;
        }

        if (!_sampling || !windowMayLimit || _clock.Since(_lastSampleEndedAt) < _spacing)
        {
            return false;
        }

        _sequence = (_sequence + 1) & SequenceMask;
        pingData = PingDataPrefix | (uint)_sequence;
        _pingData = pingData;
        _pingSentAt = _clock.Now;
        _pingBatch = _clock.Batch;
        _sampleBytes = 0;
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
        _lastSampleEndedAt = _clock.Now;
        TimeSpan roundTrip = _clock.Since(_pingSentAt);
        double rate = _sampleBytes / (double)Math.Max(roundTrip.Ticks, 1);
        bool windowBound = 3 * _sampleBytes >= 2L * Math.Min(ConnectionWindow, StreamWindow);
        bool faster = rate > _bestRate;
        _bestRate = Math.Max(_bestRate, rate);
        if (!windowBound || !faster)
        {
            _spacing = _spacing < FirstSpacing ? FirstSpacing : TimeSpan.FromTicks(Math.Min(2 * _spacing.Ticks, MaxSpacing.Ticks));
            return false;
        }

        long target = 2 * _sampleBytes;
        ConnectionWindow = (int)Math.Clamp(target, ConnectionWindow, _maxConnectionWindow);
        StreamWindow = (int)Math.Clamp(target, StreamWindow, _maxStreamWindow);
        _spacing = roundTrip;
        _sampling = !AtMaximum;
        return true;
    }
}
