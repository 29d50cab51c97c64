namespace H2Middleware.Scheduling;

/// <summary>
/// Lets a request handler read the client's priority for its response and set its own, which the write scheduler
/// then uses instead (RFC 9218 §6 lets the server decide). Available on every request served by this engine.
/// </summary>
public interface IHttp2StreamPriorityFeature
{
    Http2Priority ClientPriority { get; }

    /// <summary>Null means "use the client's". Setting it takes effect from the next scheduling decision.</summary>
    Http2Priority? HandlerPriority { get; set; }
}
