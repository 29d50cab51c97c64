namespace H2Middleware.Scheduling;

/// <summary>
/// How the response of this stream fared on the wire, which no other server exposes: how long it waited in the write
/// scheduler for its turns, how long flow control held it back (the stream's own window, or the connection's, which
/// all streams share), and how many DATA bytes went out. The serve loop updates it after each of the stream's turns
/// and when the stream closes; read it at any time. The figures are final once the stream has closed, which can be a
/// moment after the handler completed its response (the last bytes may still be waiting for their turn).
/// </summary>
public interface IHttp2StreamSchedulingFeature
{
    /// <summary>Time spent ready to send but waiting for the scheduler to pick the stream.</summary>
    TimeSpan QueuedTime { get; }

    /// <summary>Time spent with data to send and no room in the stream's flow-control window.</summary>
    TimeSpan StreamWindowBlockedTime { get; }

    /// <summary>Time spent with data to send and no room in the connection's flow-control window.</summary>
    TimeSpan ConnectionWindowBlockedTime { get; }

    /// <summary>Response DATA bytes sent (padding excluded).</summary>
    long BytesSent { get; }
}
