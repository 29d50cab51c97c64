using Microsoft.AspNetCore.Http;

namespace H2Middleware;

/// <summary>
/// Server push (RFC 9113 §8.4), after Go's <c>http.Pusher</c>: a handler promises the client the response to a GET or
/// HEAD of another path on the same origin, and the engine runs that request through the application like any other
/// and sends its response on a stream of its own. Off unless <see cref="Http2ServeLoopOptions.EnableServerPush"/>;
/// browsers have dropped push (Chrome 106, Firefox 132), so it serves clients that still take it (nghttp, Node, ...).
/// </summary>
public interface IHttp2ServerPushFeature
{
    /// <summary>
    /// Whether a push can be promised now: push is enabled, the client has not turned it off (SETTINGS_ENABLE_PUSH = 0),
    /// neither side has sent GOAWAY, and this request came from the client (a pushed request cannot push).
    /// </summary>
    bool IsPushSupported { get; }

    /// <summary>
    /// Promises the response to <paramref name="method"/> <paramref name="path"/>; the promised request takes this
    /// request's scheme and authority, and carries <paramref name="headers"/> (regular fields only) and no body.
    /// </summary>
    /// <param name="path">An absolute path, with a query if any: <c>/style.css</c>.</param>
    /// <param name="method">GET or HEAD: a promised request must be safe and cacheable.</param>
    /// <param name="headers">Fields of the promised request; not pseudo-header fields, connection-specific ones, nor
    /// host, content-length, content-encoding, expect, te or trailer.</param>
    /// <returns>
    /// A task that completes once the PUSH_PROMISE is written, ahead of any response body written after that: await it
    /// before writing a body that refers to the pushed resource. It fails with <see cref="InvalidOperationException"/>
    /// when the connection refuses the push (the push limit or the client's concurrency limit is reached, the client
    /// turned push off, a GOAWAY went out, this request's stream ended), and is cancelled if this request is aborted.
    /// </returns>
    /// <exception cref="NotSupportedException"><see cref="IsPushSupported"/> is false.</exception>
    /// <exception cref="ArgumentException">The method, path or a header is not allowed in a promised request.</exception>
    /// <exception cref="InvalidOperationException">The response has completed, or the request has no authority.</exception>
    Task PushAsync(string path, string method = "GET", IHeaderDictionary? headers = null);
}
