using H2Middleware.ServeLoop;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace H2Middleware.Streams;

/// <summary>
/// Server push as the handler sees it (<see cref="IHttp2ServerPushFeature"/>): the rules a handler's thread can check
/// are checked here, then the push crosses to the serve loop as a message, which checks the connection's state again
/// and answers through the request's task. A pushed stream's own request is made here too, by the loop.
/// </summary>
internal partial class Http2Stream : IHttp2ServerPushFeature
{
    bool IHttp2ServerPushFeature.IsPushSupported => PushUnavailableReason() is null;

    Task IHttp2ServerPushFeature.PushAsync(string path, string method, IHeaderDictionary? headers)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(method);
        if (PushUnavailableReason() is { } unavailable)
        {
            throw new NotSupportedException($"Server push is not available: {unavailable}.");
        }

        string promisedMethod = PushRules.Method(method);
        PushRules.CheckPath(path);
        HeaderFieldDictionary fields = PushRules.CopyFields(headers);
        if (_responseCompleted)
        {
            throw new InvalidOperationException("A push must be promised before the response completes.");
        }

        if (Authority is null)
        {
            throw new InvalidOperationException("The request has no :authority or host for the promised request to take.");
        }

        var request = new PushRequest(StreamId, promisedMethod, path, Scheme, Authority, fields);
        request.CancelOnAbort(_requestAbortedSource.Token);
        if (!_port.TryPost(new ServeLoopMessage(ServeLoopMessageKind.StreamPushRequested, StreamId, request)))
        {
            request.Refuse("the connection has closed");
        }

        return request.Task;
    }

    private string? PushUnavailableReason() =>
        !_port.Options.EnableServerPush ? "Http2ServeLoopOptions.EnableServerPush is off"
        : (StreamId & 1) == 0 ? "a pushed request cannot push (RFC 9113 §6.6)"
        : _port.PushUnavailableReason;

    /// <summary>
    /// Called on the serve loop for a stream we promised: its request is the promised one, complete and without a body,
    /// made from the checked fields without HPACK decoding.
    /// </summary>
    public void InitializePushedRequest(PushRequest request)
    {
        Method = request.Method;
        Scheme = request.Scheme;
        Authority = request.Authority;
        RawTarget = request.Path;
        for (int i = 0; i < request.Fields.Count; i++)
        {
            ref readonly HeaderField field = ref request.Fields.At(i);
            _requestHeaders[field.Name] = field.Value;
        }

        // RFC 9113 §8.3.1: :authority takes the place of Host.
        _requestHeaders[HeaderNames.Host] = request.Authority;
        SuppressResponseBody = ReferenceEquals(Method, HttpMethods.Head);
        InitializeRequestTarget(isConnect: false);
        SetRequestHasBody(false);
        CompleteRequestBody();
    }
}
