using H2Middleware.Protocol;
using H2Middleware.Streams;

namespace H2Middleware.Output;

/// <summary>
/// A PUSH_PROMISE owed to the client: sent on <paramref name="Parent"/>, it promises <paramref name="Promised"/>. The ids
/// are kept beside the entries because an entry that closes before the promise goes out may be recycled for another stream.
/// </summary>
internal readonly record struct PushPromise(StreamEntry Parent, int ParentId, StreamEntry Promised, int PromisedId, PushRequest Request)
{
    /// <summary>The parent stream can still carry the promise: open or half-closed (remote), RFC 9113 §6.6.</summary>
    public bool ParentCanSend => Parent.StreamId == ParentId && !Parent.LocalClosed;

    /// <summary>The promised stream has not been closed meanwhile (by the connection's end).</summary>
    public bool PromisedIsReserved => Promised.StreamId == PromisedId && !Promised.IsClosed;
}
