using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace H2Middleware.Hosting;

/// <summary>
/// <c>ClientCertificateMode.DelayCertificate</c> asks for the client's certificate after the handshake, by TLS 1.2
/// renegotiation or a TLS 1.3 post-handshake request, both of which HTTP/2 forbids (RFC 9113 §9.2.1, §9.2.3): on an
/// HTTP/2 connection the certificate would silently never come. Refused when the endpoint is set up, with the way out.
/// The endpoint's HTTPS options are Kestrel's internal state; when they cannot be read, nothing is checked.
/// </summary>
internal static class DelayedClientCertificateCheck
{
    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "ListenOptions is rooted by Kestrel itself.")]
    public static void ThrowIfDelayed(ListenOptions listenOptions)
    {
        PropertyInfo? property = typeof(ListenOptions).GetProperty("HttpsOptions", BindingFlags.Instance | BindingFlags.NonPublic);
        if (property?.GetValue(listenOptions) is HttpsConnectionAdapterOptions { ClientCertificateMode: ClientCertificateMode.DelayCertificate })
        {
            throw new InvalidOperationException(
                "UseHttp2ServeLoop(): this endpoint's HTTPS options use ClientCertificateMode.DelayCertificate, which needs TLS " +
                "renegotiation or a post-handshake certificate request, and HTTP/2 forbids both (RFC 9113 §9.2.1, §9.2.3). Use " +
                "ClientCertificateMode.RequireCertificate or AllowCertificate on this endpoint, or serve the requests that need a " +
                "delayed certificate from an HTTP/1.1-only endpoint.");
        }
    }
}
