using Microsoft.AspNetCore.Http;

namespace H2Middleware.Streams;

/// <summary>
/// A handler's push on its way to the serve loop: the promised request, already checked against every rule the handler
/// side can check (<see cref="PushRules"/>), and the task the handler awaits. The loop completes it once the
/// PUSH_PROMISE is written, or fails it when it refuses the push; if the parent request is aborted first (the connection
/// may be gone, its loop never to answer), the wait is cancelled.
/// </summary>
internal sealed class PushRequest(int parentStreamId, string method, string path, string scheme, string authority, HeaderFieldDictionary fields)
    : TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
{
    private CancellationTokenRegistration _parentAborted;

    /// <summary>The client's stream whose handler pushes: the PUSH_PROMISE goes out on it.</summary>
    public int ParentStreamId => parentStreamId;

    /// <summary><see cref="HttpMethods.Get"/> or <see cref="HttpMethods.Head"/>, interned.</summary>
    public string Method => method;

    public string Path => path;

    public string Scheme => scheme;

    public string Authority => authority;

    /// <summary>The promised request's regular fields: a copy, so the handler may change its own dictionary meanwhile.</summary>
    public HeaderFieldDictionary Fields => fields;

    /// <summary>Called by the handler before it posts the request.</summary>
    public void CancelOnAbort(CancellationToken parentAborted) =>
        _parentAborted = parentAborted.UnsafeRegister(static (state, token) => ((PushRequest)state!).TrySetCanceled(token), this);

    /// <summary>Called on the serve loop once the PUSH_PROMISE is written.</summary>
    public void Complete()
    {
        // Unregister, not Dispose: the loop must never wait for a callback running on another thread.
        _parentAborted.Unregister();
        TrySetResult();
    }

    /// <summary>Called on the serve loop (or by the handler, if the loop has stopped) when the push will not happen.</summary>
    public void Refuse(string reason)
    {
        _parentAborted.Unregister();
        TrySetException(new InvalidOperationException($"The push of {Path} was refused: {reason}."));
    }
}
