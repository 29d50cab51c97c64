using H2Middleware.Frames;

namespace H2Middleware.Output;

/// <summary>
/// The PUSH_PROMISE frames the serve loop owes the client. Each write pass sends them after the control frames and
/// before any stream's turn: a handler's push is answered before the loop reads the response body the handler writes
/// after it, so the promise precedes any DATA of the parent that could refer to the pushed resource (RFC 9113 §8.4),
/// and the promised stream's own HEADERS, which its handler only starts making once the promise is out. Promises
/// leave in the order their ids were allocated, so promised ids rise on the wire.
/// </summary>
internal sealed class PushPromiseQueue(FrameOutput output, ResponseFieldEncoder fields, IPushPromiseEvents events)
{
    // Made by the first push: most connections never push.
    private Queue<PushPromise>? _promises;

    public bool HasPromises => _promises?.Count > 0;

    public void Enqueue(in PushPromise promise) => (_promises ??= new Queue<PushPromise>()).Enqueue(promise);

    /// <summary>
    /// Writes every owed promise whose parent can still send it; the others are dropped, and so are all of them when
    /// the connection is closing (<paramref name="connectionOpen"/> false). The header block is encoded only when the
    /// frame is certain to be written, so the client's HPACK decoder stays in step.
    /// </summary>
    public void Write(bool connectionOpen, int peerMaxFrameSize)
    {
        if (!connectionOpen)
        {
            DropAll("the connection is closing");
            return;
        }

        while (_promises?.TryDequeue(out PushPromise promise) == true)
        {
            string? dropped = !promise.PromisedIsReserved ? "the promised stream was closed"
                : !promise.ParentCanSend ? "the request's stream ended before the promise could be sent"
                : fields.EncodePushPromise(promise.Request);
            if (dropped is not null)
            {
                events.OnPromiseDropped(promise, dropped);
                continue;
            }

            ReadOnlySpan<byte> block = fields.Block;
            Http2FrameWriter.WritePushPromise(output.Writer, promise.ParentId, promise.PromisedId, block, peerMaxFrameSize);
            output.CountFieldBlock(Http2FrameType.PushPromise, promise.ParentId, Http2FrameFlags.None, firstPrefix: 4, block.Length, peerMaxFrameSize);
            events.OnPromiseWritten(promise);
        }
    }

    /// <summary>No owed promise will be sent (a GOAWAY went out or came in, or the connection is closing).</summary>
    public void DropAll(string reason)
    {
        while (_promises?.TryDequeue(out PushPromise promise) == true)
        {
            events.OnPromiseDropped(promise, reason);
        }
    }
}
