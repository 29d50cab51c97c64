using H2Middleware.Frames;
using H2Middleware.Scheduling;
using MinDataRate = Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate;

namespace H2Middleware;

/// <summary>
/// Settings of the HTTP/2 serve loop for one endpoint. Defaults follow Kestrel's HTTP/2 limits where it has one.
/// </summary>
public sealed class Http2ServeLoopOptions
{
    /// <summary>SETTINGS_MAX_CONCURRENT_STREAMS we advertise; streams beyond it are refused with REFUSED_STREAM.</summary>
    public int MaxStreamsPerConnection { get; set; } = 100;

    /// <summary>SETTINGS_MAX_FRAME_SIZE we advertise (16,384 to 16,777,215).</summary>
    public int MaxFrameSize { get; set; } = 16_384;

    /// <summary>SETTINGS_HEADER_TABLE_SIZE we advertise: the HPACK dynamic table the client may use when encoding to us.</summary>
    public int HeaderTableSize { get; set; } = 4_096;

    /// <summary>SETTINGS_MAX_HEADER_LIST_SIZE we advertise; a larger request header list is answered with 431.</summary>
    public int MaxRequestHeaderListSize { get; set; } = 32_768;

    /// <summary>SETTINGS_INITIAL_WINDOW_SIZE we advertise: how much request body a stream may have in flight.</summary>
    public int InitialStreamWindowSize { get; set; } = 768 * 1024;

    /// <summary>The connection-level receive window; raised with a WINDOW_UPDATE right after our SETTINGS.</summary>
    public int InitialConnectionWindowSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Adaptive receive windows: the engine measures the connection's bandwidth-delay product with PINGs while request
    /// bodies arrive, and grows the connection's receive window, and those of streams whose handlers read their bodies,
    /// while the window is what holds the client back, up to <see cref="MaxReceiveWindowSize"/>. Uploads then reach the
    /// link's speed on long paths without tuning the initial windows. What a stream may hold unconsumed does not grow
    /// (<see cref="MaxRequestBufferSizePerStream"/> and the initial stream window). On by default; false keeps the
    /// windows at their initial sizes.
    /// </summary>
    public bool EnableAdaptiveReceiveWindows { get; set; } = true;

    /// <summary>
    /// The largest the connection's receive window grows to with <see cref="EnableAdaptiveReceiveWindows"/>, and so the
    /// most request body a connection may have received and not yet handed back; a stream's window grows to at most
    /// this and <see cref="MaxRequestBufferSizePerStream"/>. Below an initial window size, that window does not grow.
    /// </summary>
    public int MaxReceiveWindowSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>How many response body bytes a handler may have buffered per stream before its writes wait for the peer.</summary>
    public int MaxResponseBufferSizePerStream { get; set; } = 64 * 1024;

    /// <summary>
    /// How many request body bytes a stream may hold that its handler has not consumed. The window of bytes the handler
    /// has only examined is given back too (a reader may wait for a whole message), so this, not the window, bounds the
    /// buffer; past it, only consumed bytes free window. Above gRPC's 4 MiB message limit by default.
    /// </summary>
    public int MaxRequestBufferSizePerStream { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// How many client errors (malformed requests, header lists over the limit, frames on closed streams, refused
    /// streams...) a connection tolerates before it ends with GOAWAY(ENHANCE_YOUR_CALM). Each response the application
    /// completes gives one back.
    /// </summary>
    public int ClientErrorBudget { get; set; } = 8;

    /// <summary>The largest request body accepted when the application does not set its own limit; null means unlimited.</summary>
    public long? MaxRequestBodySize { get; set; } = 30_000_000;

    /// <summary>How long the client has to send its connection preface and first SETTINGS.</summary>
    public TimeSpan PrefaceTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the client has to acknowledge our SETTINGS before the connection fails with SETTINGS_TIMEOUT.</summary>
    public TimeSpan SettingsAckTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A connection with no open stream for this long is closed with GOAWAY(NO_ERROR).</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(130);

    /// <summary>
    /// After this long without a frame from the client, a PING checks that it is still there (Kestrel's
    /// <c>KeepAlivePingDelay</c>). <see cref="Timeout.InfiniteTimeSpan"/>, the default, sends none.
    /// </summary>
    public TimeSpan KeepAlivePingDelay { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>How long the client has to acknowledge a keep-alive PING before the connection is closed.</summary>
    public TimeSpan KeepAlivePingTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How long a client may take to complete a request's header block (HEADERS and its CONTINUATION frames). Nothing
    /// else can use the connection meanwhile, so a block that does not complete in time ends the connection.
    /// </summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The slowest a client may send a request body while the handler waits for it, after a grace period; a slower
    /// one fails the handler's read with 408. Handlers change it per request (IHttpMinRequestBodyDataRateFeature; gRPC
    /// turns it off for streaming calls); null turns it off. Kestrel's default.
    /// </summary>
    public MinDataRate? MinRequestBodyDataRate { get; set; } = new(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));

    /// <summary>
    /// The slowest a client may take a response while it holds the handler's data back (no window, or not reading),
    /// after a grace period; a slower one has its stream reset with ENHANCE_YOUR_CALM. Per request through
    /// IHttpMinResponseDataRateFeature; null turns it off. Kestrel's default.
    /// </summary>
    public MinDataRate? MinResponseDataRate { get; set; } = new(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));

    /// <summary>On graceful shutdown, how long in-flight streams may take to finish before the connection is closed.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether clients may open tunnels with extended CONNECT (RFC 8441): SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 is
    /// advertised and a CONNECT with <c>:protocol</c> reaches the application, which accepts it through
    /// IHttpExtendedConnectFeature; that is how WebSockets run over HTTP/2 (<c>app.UseWebSockets()</c>). When false,
    /// a request with <c>:protocol</c> is malformed. On by default, as in Kestrel.
    /// </summary>
    public bool EnableExtendedConnect { get; set; } = true;

    /// <summary>
    /// Whether handlers may push responses (RFC 9113 §8.4) through <see cref="IHttp2ServerPushFeature"/>. Off by
    /// default: browsers no longer accept pushes, and a push the client already has in its cache is wasted bandwidth.
    /// A client that sends SETTINGS_ENABLE_PUSH = 0 never receives one either way.
    /// </summary>
    public bool EnableServerPush { get; set; }

    /// <summary>
    /// How many pushed streams a connection may have at once (promised and not yet closed); the client's
    /// SETTINGS_MAX_CONCURRENT_STREAMS bounds them too. A push beyond either is refused.
    /// </summary>
    public int MaxConcurrentPushes { get; set; } = 16;

    /// <summary>Whether handlers may use synchronous reads and writes on the request and response bodies.</summary>
    public bool AllowSynchronousIO { get; set; }

    /// <summary>
    /// Makes the write scheduler of each new connection: RFC 9218 priorities by default. <see cref="WriteSchedulers"/>
    /// has the others: <see cref="WriteSchedulers.RoundRobin"/> ignores every client signal, and
    /// <see cref="WriteSchedulers.Rfc7540PriorityTree"/> follows the PRIORITY frames of clients that still send them.
    /// </summary>
    public Func<IWriteScheduler> WriteSchedulerFactory { get; set; } = WriteSchedulers.Rfc9218;

    /// <summary>
    /// TCP_NOTSENT_LOWAT for each connection's socket: the kernel takes more of our bytes only while fewer than this
    /// are still unsent. Bytes handed to the kernel can no longer be reprioritised, and by default Linux holds megabytes
    /// of them in front of a slow client (3.5 MB, 175 ms, at 20 MB/s), so an urgent response waited behind a download's
    /// queued bytes however the write scheduler ranked it. 32 KiB measured best (docs/PERFORMANCE.md, "Priorities"):
    /// 19 ms there, with no loss of throughput. Linux only, with Kestrel's socket transport; elsewhere it is skipped.
    /// Null leaves the OS default.
    /// </summary>
    public int? SocketUnsentBytesLowWatermark { get; set; } = 32 * 1024;

    /// <summary>The clock for the serve loop's timers; tests substitute a fake one.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxStreamsPerConnection, 1, nameof(MaxStreamsPerConnection));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFrameSize, Http2Limits.DefaultMaxFrameSize, nameof(MaxFrameSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxFrameSize, Http2Limits.MaxAllowedFrameSize, nameof(MaxFrameSize));
        ArgumentOutOfRangeException.ThrowIfNegative(HeaderTableSize, nameof(HeaderTableSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRequestHeaderListSize, 1_024, nameof(MaxRequestHeaderListSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(InitialStreamWindowSize, Http2Limits.DefaultInitialWindowSize, nameof(InitialStreamWindowSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(InitialConnectionWindowSize, Http2Limits.DefaultInitialWindowSize, nameof(InitialConnectionWindowSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxReceiveWindowSize, Http2Limits.DefaultInitialWindowSize, nameof(MaxReceiveWindowSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxResponseBufferSizePerStream, 1_024, nameof(MaxResponseBufferSizePerStream));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRequestBufferSizePerStream, 1_024, nameof(MaxRequestBufferSizePerStream));
        ArgumentOutOfRangeException.ThrowIfNegative(ClientErrorBudget, nameof(ClientErrorBudget));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentPushes, 1, nameof(MaxConcurrentPushes));
        if (SocketUnsentBytesLowWatermark is { } lowWatermark)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(lowWatermark, 1_024, nameof(SocketUnsentBytesLowWatermark));
        }

        if (KeepAlivePingDelay != Timeout.InfiniteTimeSpan)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(KeepAlivePingDelay, TimeSpan.Zero, nameof(KeepAlivePingDelay));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(KeepAlivePingTimeout, TimeSpan.Zero, nameof(KeepAlivePingTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RequestHeadersTimeout, TimeSpan.Zero, nameof(RequestHeadersTimeout));
        ArgumentNullException.ThrowIfNull(WriteSchedulerFactory, nameof(WriteSchedulerFactory));
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
    }
}
