namespace PriorityProbe;

/// <summary>What a scenario hears of its streams, on the connection's reader thread, as the paced reader takes each frame.</summary>
internal interface IStreamObserver
{
    /// <summary>A DATA frame's payload (padding included, as flow control counts it).</summary>
    void OnData(int streamId, int length);

    /// <summary>The stream's END_STREAM arrived; <paramref name="timestamp"/> is <see cref="System.Diagnostics.Stopwatch"/>'s.</summary>
    void OnEnd(int streamId, long timestamp);
}
