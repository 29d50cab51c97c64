using System.IO.Pipelines;
using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.ServeLoop;

namespace H2Middleware.Streams;

/// <summary>
/// One HTTP/2 stream as the application sees it: the request and response behind an
/// <see cref="Microsoft.AspNetCore.Http.Features.IFeatureCollection"/>, their body pipes and direct writes. The serve
/// loop's protocol state for the stream is in its <see cref="StreamEntry"/>, which this side cannot reach: it tells the
/// loop things only by posting messages through its <see cref="ConnectionPort"/>. The values that cross the other way
/// (the response status, headers, trailers and content length, a requested reset, <see cref="SuppressResponseBody"/>)
/// are written by the handler before it starts or completes the response, and read by the loop only after it has
/// observed that start or completion (volatile flags and the response pipe are the release/acquire points).
/// </summary>
internal partial class Http2Stream : IThreadPoolWorkItem
{
    private readonly ConnectionPort _port;

    /// <summary>Makes the reusable parts (pipes, body streams, header collections); <see cref="Initialize"/> starts each use.</summary>
    public Http2Stream(ConnectionPort port)
    {
        _port = port;
        var memoryPool = port.MemoryPool;
        _requestPipe = new Pipe(new PipeOptions(
            pool: memoryPool,
            readerScheduler: PipeScheduler.ThreadPool,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0,
            useSynchronizationContext: false));
        _responseBuffer = new ResponseBuffer(new Pipe(new PipeOptions(
            pool: memoryPool,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.ThreadPool,
            pauseWriterThreshold: port.Options.MaxResponseBufferSizePerStream,
            resumeWriterThreshold: port.Options.MaxResponseBufferSizePerStream / 2,
            useSynchronizationContext: false)), memoryPool);
        _requestBodyReader = new RequestBodyReader(this, _requestPipe.Reader);
        _requestBodyStream = new RequestBodyStream(this, _requestBodyReader);
        _responseBodyWriter = new ResponseBodyWriter(this, _responseBuffer);
        _responseBodyStream = new ResponseBodyStream(this, _responseBodyWriter);
    }

    public int StreamId { get; private set; }

    /// <summary>The request's content-length, set while its headers are decoded (before the handler runs).</summary>
    public long? DeclaredContentLength { get; private set; }

    /// <summary>
    /// The response goes out with no body: set for HEAD before the handler runs, or by the handler side for the 500
    /// that replaces a failed handler's response, before it completes the response.
    /// </summary>
    public bool SuppressResponseBody { get; private set; }

    public string Method { get; private set; } = string.Empty;

    public string? Authority { get; private set; }

    /// <summary>A CONNECT request: once answered with 2xx its stream is a tunnel that carries only DATA (RFC 9113 §8.5).</summary>
    public bool IsConnectRequest => ReferenceEquals(Method, Microsoft.AspNetCore.Http.HttpMethods.Connect);

    /// <summary>The handler's priority, if it set one: written by the handler, read by the scheduler on the serve loop.</summary>
    public Http2Priority? HandlerPriority
    {
        get => Unpack(_handlerPriorityCode);
        set
        {
            _handlerPriorityCode = Pack(value);
            Post(ServeLoopMessageKind.StreamPriorityChanged);
        }
    }

    /// <summary>The client's priority as the serve loop last published it, for the handler's priority feature.</summary>
    public Http2Priority ClientPriority => Unpack(_clientPriorityCode) ?? Http2Priority.Default;

    // Priorities cross threads packed into one int each, so that they are read whole.
    private volatile int _handlerPriorityCode = NoPriority;
    private volatile int _clientPriorityCode = NoPriority;
    private const int NoPriority = -1;

    private static int Pack(Http2Priority? priority) =>
        priority is { } value ? (value.Urgency << 1) | (value.Incremental ? 1 : 0) : NoPriority;

    private static Http2Priority? Unpack(int code) => code == NoPriority ? null : new Http2Priority(code >> 1, (code & 1) != 0);

    /// <summary>Called on the serve loop when the client's priority for the stream changes.</summary>
    public void PublishClientPriority(Http2Priority priority) => _clientPriorityCode = Pack(priority);

    /// <summary>Called on the serve loop when the stream ends abnormally: wakes the handler's pending reads and writes.</summary>
    public void Abort(Http2ErrorCode errorCode)
    {
        // Abandoned first: a handler that the failed request pipe wakes must find the stream ended.
        _responseBuffer.AbandonReading();
        AbandonResponse();
        if (!RequestBodyAbsent)
        {
            _requestPipe.Writer.Complete(new IOException($"The HTTP/2 stream was reset ({errorCode})."));
        }
    }

    /// <summary>Called on the serve loop for a response the engine makes itself, before any handler ran (431).</summary>
    public void RespondWithStatus(int statusCode)
    {
        _statusCode = statusCode;
        _responseHeaders.ContentLength = 0;
        _responseHeaders.IsReadOnly = true;
        _responseStarted = true;
        _responseCompleted = true;
        _responseBuffer.CompleteWriting();
    }

    /// <summary>The client's priority from the <c>priority</c> request header (RFC 9218 §5), if it sent one.</summary>
    public bool TryGetRequestPriority(out Http2Priority priority)
    {
        if (!_requestHeaders.TryGetValue("priority", out var values) || values.Count == 0 || values[0] is not { Length: > 0 and <= Http2Priority.MaxFieldValueLength } value)
        {
            priority = default;
            return false;
        }

        Span<byte> bytes = stackalloc byte[value.Length];
        for (int i = 0; i < value.Length; i++)
        {
            bytes[i] = (byte)value[i];
        }

        priority = Http2Priority.Parse(bytes, Http2Priority.Default);
        return true;
    }

    /// <summary>IThreadPoolWorkItem: runs the application for this stream off the serve loop.</summary>
    public void Execute() => _ = _port.Application.RunAsync(this);

    public void Post(ServeLoopMessageKind kind, long value = 0, long value2 = 0) =>
        _port.Post(new ServeLoopMessage(kind, StreamId, value, value2));

    /// <summary>Logs an exception thrown by the application or its callbacks for this stream.</summary>
    public void LogApplicationError(Exception exception) => Http2Log.ApplicationError(_port.Logger, _port.ConnectionId, StreamId, exception);
}
