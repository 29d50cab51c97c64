using H2Middleware;
using H2Middleware.Hosting;
using Microsoft.AspNetCore.Server.Kestrel;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Serves the HTTP/2 connections of an endpoint declared in Kestrel's configuration (<c>Kestrel:Endpoints</c>) with H2Middleware.</summary>
public static class Http2ServeLoopEndpointConfigurationExtensions
{
    /// <summary>
    /// For <c>kestrel.Configure(section).Endpoint(name, endpoint =&gt; endpoint.UseHttp2ServeLoop())</c>. Kestrel runs this
    /// callback before it adds the endpoint's TLS, and the engine must come after TLS: on an https endpoint this adds TLS
    /// first, with the certificate and options Kestrel loaded for the endpoint (Kestrel then adds none), then
    /// <c>UseHttp2ServeLoop()</c>. So do not call <c>UseHttps</c> in the same callback. An endpoint with an <c>Sni</c>
    /// section is refused: Kestrel's per-host-name TLS selection cannot be set up from outside Kestrel.
    /// </summary>
    public static EndpointConfiguration UseHttp2ServeLoop(this EndpointConfiguration endpoint, Action<Http2ServeLoopOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint.IsHttps)
        {
            if (endpoint.ConfigSection.GetSection("Sni").GetChildren().Any())
            {
                throw new InvalidOperationException(
                    $"UseHttp2ServeLoop(): the endpoint '{endpoint.ConfigSection.Path}' has an Sni section, and Kestrel's per-host-name " +
                    "certificate selection cannot be placed before the engine from outside Kestrel. Declare the endpoint in code " +
                    "(ListenOptions.UseHttps with a ServerCertificateSelector, then UseHttp2ServeLoop) or leave it to Kestrel's HTTP/2.");
            }

            endpoint.ListenOptions.UseHttps(endpoint.HttpsOptions);
        }

        endpoint.ListenOptions.UseHttp2ServeLoop(configure);
        endpoint.ListenOptions.ApplicationServices.GetService<KestrelEndpointSetup>()?.Served(endpoint.ConfigSection.Key);
        return endpoint;
    }
}
