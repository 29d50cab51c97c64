using System.Diagnostics.CodeAnalysis;

namespace H2Middleware.Scheduling;

/// <summary>
/// Decides which stream sends next on one connection. The engine owns everything else: control frames always
/// go ahead of stream data, DATA is split by flow-control windows and the peer's max frame size, and a stream is
/// offered only while it can send (it has headers to send, or data and window, or its end to signal).
/// One instance serves one connection and is called on that connection's serve loop only, so it needs no locks.
/// </summary>
/// <remarks>
/// A scheduler that keeps the RFC 7540 §5.3 priority tree also needs to hear of streams that cannot send: the tree
/// holds idle, open and closed streams alike. For a stream the engine calls, in this order:
/// <see cref="OnRfc7540Priority"/> for any PRIORITY frame that arrives while it is still idle;
/// <see cref="OnStreamOpened"/> when its HEADERS opens it, then <see cref="OnRfc7540Priority"/> if those HEADERS carry
/// priority fields; <see cref="Enqueue"/>, <see cref="TryDequeue"/> and <see cref="Remove"/> while it sends, with
/// <see cref="OnRfc7540Priority"/> for any PRIORITY frame meanwhile; <see cref="OnStreamClosed"/> once, when it
/// closes; and <see cref="OnRfc7540Priority"/> again for any PRIORITY frame that arrives after. These members do
/// nothing by default, so a scheduler that ignores the tree need not implement them.
/// </remarks>
public interface IWriteScheduler
{
    /// <summary>
    /// Whether this scheduler follows RFC 7540 priorities. The engine reads it once, before its first SETTINGS: when
    /// false it sends SETTINGS_NO_RFC7540_PRIORITIES = 1 (RFC 9218 §2.1), so clients spend no effort on a tree nobody
    /// reads; when true it sends 0.
    /// </summary>
    bool UsesRfc7540Priorities => false;

    /// <summary>
    /// HEADERS opened the stream. Called once per stream, before it is first enqueued and before the priority fields of
    /// those HEADERS are passed to <see cref="OnRfc7540Priority"/>. Every opened stream is later closed with
    /// <see cref="OnStreamClosed"/>; a stream refused before it opened is neither.
    /// </summary>
    void OnStreamOpened(IScheduledStream stream)
    {
    }

    /// <summary>
    /// A valid RFC 7540 priority for <paramref name="streamId"/>: a PRIORITY frame on any stream, idle, open or closed,
    /// or the priority fields of a HEADERS frame. <paramref name="dependsOn"/> is 0 (the root) or another stream,
    /// never <paramref name="streamId"/> itself (that is a stream error the engine handles); <paramref name="weight"/>
    /// is 1 to 256, the wire value plus one. Called whether or not the stream is queued.
    /// </summary>
    void OnRfc7540Priority(int streamId, int dependsOn, int weight, bool exclusive)
    {
    }

    /// <summary>
    /// The stream closed (both ends done, or RST_STREAM sent or received). Called once, after which the stream is
    /// neither enqueued again nor removed, and its object may be reused; a queued stream is forgotten here even if
    /// <see cref="Remove"/> was not called first.
    /// </summary>
    void OnStreamClosed(int streamId)
    {
    }

    /// <summary>The stream has become able to send. It is not already queued.</summary>
    void Enqueue(IScheduledStream stream);

    /// <summary>
    /// Takes the stream to serve next, or returns false when none is queued. The engine gives it one turn — its HEADERS
    /// if not yet sent, then up to 64 KiB of DATA cut to the windows, and its end (END_STREAM or trailers) if it has
    /// come — and enqueues it again if it can still send.
    /// </summary>
    bool TryDequeue([NotNullWhen(true)] out IScheduledStream? stream);

    /// <summary>The stream can no longer send (reset, closed, or blocked on flow control) and must be forgotten if queued.</summary>
    void Remove(IScheduledStream stream);

    /// <summary>The stream's priority signals changed (PRIORITY_UPDATE or the handler). Called whether or not it is queued.</summary>
    void OnPriorityChanged(IScheduledStream stream)
    {
    }
}
