using H2Middleware.Scheduling;

namespace H2Middleware.Tests.Scheduling;

/// <summary>A stream as a scheduler sees it, with priorities a test can change. EffectivePriority is the interface's own.</summary>
internal sealed class FakeScheduledStream(int streamId, Http2Priority clientPriority) : IScheduledStream
{
    public FakeScheduledStream(int streamId)
        : this(streamId, Http2Priority.Default)
    {
    }

    public FakeScheduledStream(int streamId, int urgency, bool incremental = false)
        : this(streamId, new Http2Priority(urgency, incremental))
    {
    }

    public int StreamId => streamId;

    public string Method => "GET";

    public string Path => $"/{streamId}";

    public string? Authority => "localhost";

    public Http2Priority ClientPriority { get; set; } = clientPriority;

    public Http2Priority? HandlerPriority { get; set; }

    public object? SchedulerState { get; set; }

    public override string ToString() => $"stream {streamId}";
}
