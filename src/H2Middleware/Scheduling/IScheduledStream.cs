namespace H2Middleware.Scheduling;

/// <summary>
/// What a write scheduler sees of a stream that has something to send: who it is, what was asked,
/// and the priority signals. Read on the connection's serve loop only.
/// </summary>
public interface IScheduledStream
{
    int StreamId { get; }

    string Method { get; }

    /// <summary>The request target as sent in <c>:path</c>.</summary>
    string Path { get; }

    string? Authority { get; }

    /// <summary>The client's priority: the <c>priority</c> request header, updated by PRIORITY_UPDATE frames.</summary>
    Http2Priority ClientPriority { get; }

    /// <summary>A priority set by the request handler through <see cref="IHttp2StreamPriorityFeature"/>, if any; it overrides the client's.</summary>
    Http2Priority? HandlerPriority { get; }

    /// <summary>The priority to schedule by: the handler's when set, else the client's.</summary>
    Http2Priority EffectivePriority => HandlerPriority ?? ClientPriority;

    /// <summary>A slot the scheduler may use for its own per-stream bookkeeping (a queue node, a deficit counter), so that it needs no lookup table.</summary>
    object? SchedulerState { get; set; }
}
