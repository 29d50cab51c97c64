using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Streams;

/// <summary>
/// Extended CONNECT (RFC 8441): a CONNECT with <c>:protocol</c> asks for a tunnel that speaks that protocol, which is
/// how WebSockets run over HTTP/2. The application accepts it through <see cref="IHttpExtendedConnectFeature"/>, as
/// under Kestrel: the 2xx response starts without END_STREAM and the stream's DATA, both ways, becomes the duplex
/// stream it gets back. Until then the request has no body and a 2xx response can have none (tunnelled bytes are not
/// a body); the application may refuse instead, with any other status and a body.
/// </summary>
internal partial class Http2Stream : IHttpExtendedConnectFeature
{
    private ConnectTunnelStream? _tunnel;
    private bool _extendedConnectAccepted;

    /// <summary>A well-formed CONNECT with <c>:protocol</c>; set on the serve loop before the handler runs.</summary>
    public bool IsExtendedConnect { get; private set; }

    /// <summary>The request's <c>:protocol</c> ("websocket", or any other upgrade token).</summary>
    public string? ConnectProtocol { get; private set; }

    /// <summary>An extended CONNECT not yet accepted: a 2xx response to it may not have a body.</summary>
    public bool AwaitsConnectAcceptance => IsExtendedConnect && !_extendedConnectAccepted;

    bool IHttpExtendedConnectFeature.IsExtendedConnect => IsExtendedConnect;

    string? IHttpExtendedConnectFeature.Protocol => ConnectProtocol;

    ValueTask<Stream> IHttpExtendedConnectFeature.AcceptAsync()
    {
        if (!IsExtendedConnect)
        {
            throw new InvalidOperationException("Only an extended CONNECT request (a CONNECT with :protocol) can be accepted.");
        }

        if (_extendedConnectAccepted)
        {
            throw new InvalidOperationException("The extended CONNECT request has already been accepted.");
        }

        if (_statusCode is < StatusCodes.Status200OK or >= StatusCodes.Status300MultipleChoices)
        {
            throw new InvalidOperationException($"An extended CONNECT request is accepted with a 2xx status, not {_statusCode}.");
        }

        _extendedConnectAccepted = true;
        // A tunnel may stay quiet for as long as its protocol likes: the minimum rates of a body do not apply to it.
        _minRequestBodyDataRate = null;
        _minResponseDataRate = null;
        _tunnel ??= new ConnectTunnelStream(_requestBodyStream, _responseBodyStream);
        Task start = StartResponseAsync();
        return start.IsCompletedSuccessfully ? new ValueTask<Stream>(_tunnel) : StartThenReturnAsync(start, _tunnel);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<Stream> StartThenReturnAsync(Task start, Stream tunnel)
    {
        await start;
        return tunnel;
    }

    private void ResetExtendedConnect()
    {
        IsExtendedConnect = false;
        ConnectProtocol = null;
        _extendedConnectAccepted = false;
    }
}
