namespace H2Middleware.Scheduling;

/// <summary>
/// A scheduler of ours that can let go of the bookkeeping it keeps for reuse (pooled queue entries, per-urgency
/// structures) once its connection is idle: nothing is queued then, and a busy connection makes it again once.
/// </summary>
internal interface IIdleMemoryRelease
{
    /// <summary>Called on the serve loop when the connection is idle; a scheduler that still holds streams keeps everything.</summary>
    void ReleaseIdleMemory();
}
