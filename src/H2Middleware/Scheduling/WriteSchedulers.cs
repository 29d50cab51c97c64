namespace H2Middleware.Scheduling;

/// <summary>
/// Ready-made values for <see cref="Http2ServeLoopOptions.WriteSchedulerFactory"/>, so that choosing a scheduler
/// is one line. Each call of a factory makes a new scheduler, because every connection needs its own.
/// </summary>
public static class WriteSchedulers
{
    /// <summary>RFC 9218 priorities: urgency first, then request order or round-robin as the incremental flag asks. See <see cref="Rfc9218WriteScheduler"/>.</summary>
    public static Func<IWriteScheduler> Rfc9218 { get; } = static () => new Rfc9218WriteScheduler();

    /// <summary>Every stream in turn, whatever its priority. See <see cref="RoundRobinWriteScheduler"/>.</summary>
    public static Func<IWriteScheduler> RoundRobin { get; } = static () => new RoundRobinWriteScheduler();

    /// <summary>
    /// The RFC 7540 §5.3 priority tree, for clients that still send PRIORITY frames and HEADERS priority fields; with it
    /// the engine announces SETTINGS_NO_RFC7540_PRIORITIES = 0. See <see cref="Rfc7540PriorityTreeScheduler"/>.
    /// </summary>
    public static Func<IWriteScheduler> Rfc7540PriorityTree { get; } = static () => new Rfc7540PriorityTreeScheduler();

    /// <summary>A stream picked at random each turn, whatever its priority. See <see cref="RandomWriteScheduler"/>.</summary>
    public static Func<IWriteScheduler> Random { get; } = static () => new RandomWriteScheduler();
}
