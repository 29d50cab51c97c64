using System.Buffers;
using H2Middleware.Frames;
using H2Middleware.Protocol;
using H2Middleware.Scheduling;

namespace H2Middleware.ServeLoop;

/// <summary>
/// The client's priority signals, passed to the write scheduler: the <c>priority</c> request header and PRIORITY_UPDATE
/// frames (RFC 9218), also those that arrive before their stream opens, and the RFC 7540 PRIORITY frames and HEADERS
/// priority fields that only a tree scheduler reads.
/// </summary>
internal sealed class PrioritySignals(IWriteScheduler scheduler, StreamTable streams, int maxConcurrentStreams)
{
    // Made on the first early PRIORITY_UPDATE: most clients send none, and a dictionary of this struct is a framework
    // generic instantiation, absent from the ReadyToRun image, whose every call would run as tier-0 JIT code.
    private Dictionary<int, Http2Priority>? _early;

    /// <summary>A PRIORITY frame, or the priority fields of HEADERS, for any stream (RFC 7540 §5.3).</summary>
    public void OnRfc7540Priority(in Http2Frame frame) =>
        scheduler.OnRfc7540Priority(frame.StreamId, frame.StreamDependency, frame.Weight, frame.IsExclusive);

    /// <summary>A PRIORITY_UPDATE frame (RFC 9218 §7.1); <paramref name="idle"/> says whether the stream it names is idle.</summary>
    public void OnPriorityUpdate(in Http2Frame frame, bool idle)
    {
        int streamId = frame.PrioritizedStreamId;
        if (frame.Payload.Length > Http2Priority.MaxFieldValueLength)
        {
            return;
        }

        Span<byte> value = stackalloc byte[(int)frame.Payload.Length];
        frame.Payload.CopyTo(value);
        if (streams.TryGet(streamId, out StreamEntry? stream))
        {
            if (!stream.IsClosed)
            {
                // A PRIORITY_UPDATE carries every parameter: one it omits takes its default (RFC 9218 §7).
                stream.ClientPriority = Http2Priority.Parse(value, Http2Priority.Default);
                scheduler.OnPriorityChanged(stream);
            }
        }
        else if (idle && (streamId & 1) == 0)
        {
            // An even id names a push stream: one we have not promised must not be named (RFC 9218 §7.1).
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "PRIORITY_UPDATE for an idle push stream");
        }
        else if (idle)
        {
            // It may arrive before its stream opens, but idle streams with a priority and active streams together must
            // stay within SETTINGS_MAX_CONCURRENT_STREAMS.
            _early ??= [];
            if (!_early.ContainsKey(streamId) && _early.Count + streams.ClientOpenCount >= maxConcurrentStreams)
            {
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "PRIORITY_UPDATE for more idle streams than SETTINGS_MAX_CONCURRENT_STREAMS allows");
            }

            _early[streamId] = Http2Priority.Parse(value, Http2Priority.Default);
        }
    }

    /// <summary>
    /// The client used <paramref name="streamId"/>: every lower id is no longer idle (RFC 9113 §5.1.1), so early
    /// priorities for them, of streams refused, ignored or skipped, no longer count against the limit.
    /// </summary>
    public void OnStreamIdUsed(int streamId)
    {
        if (_early is null || _early.Count == 0)
        {
            return;
        }

        foreach (int id in _early.Keys)
        {
            if (id < streamId)
            {
                _early.Remove(id);
            }
        }
    }

    /// <summary>HEADERS for <paramref name="streamId"/> was refused or ignored: the stream is closed, not idle, and its early priority goes.</summary>
    public void OnStreamNotOpened(int streamId) => _early?.Remove(streamId);

    /// <summary>HEADERS opened the stream: a PRIORITY_UPDATE that came first applies now, and the scheduler hears of it.</summary>
    public void OnStreamOpened(StreamEntry stream)
    {
        if (_early?.Remove(stream.StreamId, out Http2Priority early) == true)
        {
            stream.ClientPriority = early;
            stream.HasPriorityUpdate = true;
        }

        scheduler.OnStreamOpened(stream);
    }

    /// <summary>The request's headers are valid: its <c>priority</c> header counts unless a PRIORITY_UPDATE overrides it (RFC 9218 §7).</summary>
    public void OnRequestHeaders(StreamEntry stream)
    {
        if (!stream.HasPriorityUpdate && stream.Stream.TryGetRequestPriority(out Http2Priority requested))
        {
            stream.ClientPriority = requested;
        }
    }
}
