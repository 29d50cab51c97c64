using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace H2Middleware.Hosting;

/// <summary>
/// The <c>Alt-Svc</c> header Kestrel adds to the HTTP/1.1 and HTTP/2 responses of an endpoint that also serves HTTP/3, so
/// that clients learn of HTTP/3 whichever engine serves HTTP/2. Kestrel's rule: the endpoint's protocols include HTTP/3 and
/// HTTP/1.1 or HTTP/2, <see cref="ListenOptions.DisableAltSvcHeader"/> is not set, and a QUIC transport is registered (none
/// is where the platform has no QUIC); the value names the port the connection arrived on, cached for a day.
/// </summary>
internal sealed class AltSvcAdvertisement
{
    private volatile AltSvcStreamApplication? _last;

    private AltSvcAdvertisement()
    {
    }

    /// <summary>Null when Kestrel would add no <c>Alt-Svc</c> to this endpoint's responses.</summary>
    public static AltSvcAdvertisement? For(ListenOptions listenOptions)
    {
        HttpProtocols protocols = listenOptions.Protocols;
        bool advertises = (protocols & HttpProtocols.Http3) != 0
            && (protocols & HttpProtocols.Http1AndHttp2) != 0
            && !listenOptions.DisableAltSvcHeader
            && listenOptions.ApplicationServices.GetServices<IMultiplexedConnectionListenerFactory>().Any();
        return advertises ? new AltSvcAdvertisement() : null;
    }

    public static string Value(int port) => "h3=\":" + port.ToString(CultureInfo.InvariantCulture) + "\"; ma=86400";

    /// <summary>
    /// <paramref name="application"/>, adding the header for the port <paramref name="localEndPoint"/> names. An endpoint
    /// listens on one port, so the wrapper made for the last connection is nearly always the one needed.
    /// </summary>
    public StreamApplication Apply(StreamApplication application, EndPoint? localEndPoint)
    {
        if (localEndPoint is not IPEndPoint { Port: var port })
        {
            return application;
        }

        AltSvcStreamApplication? last = _last;
        if (last is null || last.Port != port)
        {
            _last = last = new AltSvcStreamApplication(application, port);
        }

        return last;
    }
}
