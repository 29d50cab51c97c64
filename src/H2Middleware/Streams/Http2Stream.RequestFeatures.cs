using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Streams;

/// <summary>The request side of the stream as ASP.NET Core sees it.</summary>
internal partial class Http2Stream :
    IHttpRequestFeature,
    IRequestBodyPipeFeature,
    IHttpRequestBodyDetectionFeature,
    IHttpRequestTrailersFeature,
    IHttpMaxRequestBodySizeFeature,
    IHttpRequestIdentifierFeature,
    IHttpConnectionFeature
{
    private readonly Pipe _requestPipe;
    private readonly RequestBodyReader _requestBodyReader;
    private readonly RequestBodyStream _requestBodyStream;
    private Stream? _replacedRequestBody;
    private PipeReader? _replacedRequestBodyReader;
    private long? _maxRequestBodySize;
    private string? _traceIdentifier;
    private volatile bool _requestBodyComplete;

    string IHttpRequestFeature.Protocol { get; set; } = HttpProtocol.Http2;

    string IHttpRequestFeature.Scheme
    {
        get => Scheme;
        set => Scheme = value;
    }

    string IHttpRequestFeature.Method
    {
        get => Method;
        set => Method = value;
    }

    string IHttpRequestFeature.PathBase { get; set; } = string.Empty;

    string IHttpRequestFeature.Path { get; set; } = string.Empty;

    string IHttpRequestFeature.QueryString { get; set; } = string.Empty;

    string IHttpRequestFeature.RawTarget
    {
        get => RawTarget;
        set => RawTarget = value;
    }

    IHeaderDictionary IHttpRequestFeature.Headers
    {
        get => _requestHeaders;
        set => throw new NotSupportedException("The request headers of an HTTP/2 stream cannot be replaced.");
    }

    /// <summary>An extended CONNECT has no request body: its DATA is the tunnel's, read through the accepted stream.</summary>
    Stream IHttpRequestFeature.Body
    {
        get => _replacedRequestBody ?? (IsExtendedConnect ? Stream.Null : _requestBodyStream);
        set
        {
            _replacedRequestBody = ReferenceEquals(value, _requestBodyStream) ? null : value;
            _replacedRequestBodyReader = null;
        }
    }

    PipeReader IRequestBodyPipeFeature.Reader =>
        _replacedRequestBody is null && !IsExtendedConnect
            ? _requestBodyReader
            : _replacedRequestBodyReader ??= PipeReader.Create(((IHttpRequestFeature)this).Body, new StreamPipeReaderOptions(leaveOpen: true));

    /// <summary>False when the HEADERS frame carried END_STREAM: this request has no body.</summary>
    public bool CanHaveBody { get; private set; }

    bool IHttpRequestTrailersFeature.Available => _requestBodyComplete;

    IHeaderDictionary IHttpRequestTrailersFeature.Trailers =>
        _requestBodyComplete
            ? _requestTrailers ?? (IHeaderDictionary)EmptyTrailers
            : throw new InvalidOperationException("The request trailers are not available until the request body has been read to its end.");

    private static readonly HeaderFieldDictionary EmptyTrailers = new() { IsReadOnly = true };

    /// <summary>Read-only once the body is being read, and for an extended CONNECT, whose tunnel has no size limit.</summary>
    bool IHttpMaxRequestBodySizeFeature.IsReadOnly => _requestBodyReader.HasStartedReading || IsExtendedConnect;

    long? IHttpMaxRequestBodySizeFeature.MaxRequestBodySize
    {
        get => _maxRequestBodySize;
        set
        {
            if (_requestBodyReader.HasStartedReading)
            {
                throw new InvalidOperationException("The maximum request body size cannot be changed after the body has started to be read.");
            }

            if (IsExtendedConnect)
            {
                throw new InvalidOperationException("The maximum request body size cannot be set for an extended CONNECT request.");
            }

            if (value < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(value), "The maximum request body size must not be negative.");
            }

            _maxRequestBodySize = value;
        }
    }

    /// <summary>The handler has started reading the body (read by the serve loop for the data rate).</summary>
    public bool IsReadingRequestBody => _requestBodyReader.HasStartedReading;

    /// <summary>The limit in force, enforced by the handler's body reader as it reads (the handler may change it until then).</summary>
    public long? MaxRequestBodySize => _maxRequestBodySize;

    string IHttpRequestIdentifierFeature.TraceIdentifier
    {
        get => _traceIdentifier ??= $"{_port.ConnectionId}:{StreamId:X8}";
        set => _traceIdentifier = value;
    }

    string IHttpConnectionFeature.ConnectionId { get; set; } = string.Empty;

    IPAddress? IHttpConnectionFeature.RemoteIpAddress { get; set; }

    int IHttpConnectionFeature.RemotePort { get; set; }

    IPAddress? IHttpConnectionFeature.LocalIpAddress { get; set; }

    int IHttpConnectionFeature.LocalPort { get; set; }

    public PipeWriter RequestBodyWriter => _requestPipe.Writer;

    private void InitializeConnectionFeature()
    {
        // Every field is set anew, also for endpoints without addresses (a Unix socket): a middleware may have changed
        // them for the stream object's previous request (ForwardedHeaders does).
        IHttpConnectionFeature feature = this;
        feature.ConnectionId = _port.ConnectionId;
        var remote = _port.RemoteEndPoint as IPEndPoint;
        feature.RemoteIpAddress = remote?.Address;
        feature.RemotePort = remote?.Port ?? 0;
        var local = _port.LocalEndPoint as IPEndPoint;
        feature.LocalIpAddress = local?.Address;
        feature.LocalPort = local?.Port ?? 0;
    }

    private bool InitializeRequestTarget(bool isConnect)
    {
        IHttpRequestFeature request = this;
        if (isConnect)
        {
            request.Path = string.Empty;
            request.QueryString = string.Empty;
            RawTarget = Authority ?? string.Empty;
            return true;
        }

        if (RawTarget == "*")
        {
            // The asterisk form is for OPTIONS only (RFC 9110 §7.1).
            request.Path = string.Empty;
            request.QueryString = string.Empty;
            return ReferenceEquals(Method, HttpMethods.Options);
        }

        if (!RequestTarget.TrySplit(RawTarget, out string path, out string query))
        {
            return false;
        }

        request.Path = path;
        request.QueryString = query;
        return true;
    }

    /// <summary>Called on the serve loop once the HEADERS frame is processed. An extended CONNECT has no body, only a tunnel (as under Kestrel).</summary>
    public void SetRequestHasBody(bool canHaveBody)
    {
        RequestBodyAbsent = !canHaveBody;
        CanHaveBody = canHaveBody && !IsExtendedConnect;
    }

    /// <summary>
    /// The request ended with its headers, before the handler started: its body reads answer "complete" without the
    /// request pipe, which then needs no completing or resetting (most requests are GETs).
    /// </summary>
    public bool RequestBodyAbsent { get; private set; }

    /// <summary>Called on the serve loop when END_STREAM arrives: the body (and trailers) are complete.</summary>
    public void CompleteRequestBody()
    {
        _requestBodyComplete = true;
        if (!RequestBodyAbsent)
        {
            _requestPipe.Writer.Complete();
        }
    }
}
