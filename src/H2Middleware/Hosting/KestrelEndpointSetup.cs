using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace H2Middleware.Hosting;

/// <summary>
/// Puts the engine on the endpoints that <see cref="ConfiguredEndpoints"/> names, with no <c>UseHttp2ServeLoop()</c> in
/// code. Runs after every other configuration of Kestrel, so that the configuration loader is the one Kestrel will use.
/// <list type="bullet">
/// <item><c>Kestrel:Endpoints</c> entries, through the loader's per-endpoint callback (<see cref="Http2ServeLoopEndpointConfigurationExtensions"/>).
/// That callback is one per name: it replaces one the application registered for the same name in code.</item>
/// <item>The host's addresses (<c>AllEndpoints</c> only), through the endpoint defaults, which Kestrel applies to each such
/// address before its own <c>UseHttps()</c>: the hook recognises the address (<see cref="HostingUrls"/>) and adds TLS itself
/// when the address is https, then the engine; Kestrel then adds no TLS of its own.</item>
/// </list>
/// Endpoints declared in code are left alone: their defaults ran when they were declared, before this.
/// </summary>
internal sealed class KestrelEndpointSetup(ConfiguredEndpoints endpoints, HostingUrls urls, ILoggerFactory loggerFactory)
    : IPostConfigureOptions<KestrelServerOptions>
{
    public void PostConfigure(string? name, KestrelServerOptions options)
    {
        IConfiguration? kestrelConfiguration = options.ConfigurationLoader?.Configuration;
        IEnumerable<string> names = endpoints.All
            ? kestrelConfiguration?.GetSection("Endpoints").GetChildren().Select(c => c.Key) ?? []
            : endpoints.Names;
        foreach (string endpointName in names)
        {
            if (kestrelConfiguration?.GetSection("Endpoints").GetSection(endpointName).Exists() != true)
            {
                throw new InvalidOperationException(
                    $"Http2ServeLoop:Endpoints names '{endpointName}', but Kestrel's configuration has no such endpoint (Kestrel:Endpoints:{endpointName}).");
            }

            options.ConfigurationLoader!.Endpoint(endpointName, endpoint => endpoint.UseHttp2ServeLoop());
        }

        if (endpoints.All && !KestrelEndpointDefaults.TryAppend(options, listenOptions => ServeHostingUrl(listenOptions, kestrelConfiguration)))
        {
            HostingLog.HostingUrlsNotServed(loggerFactory.CreateLogger(ServeLoop.Http2Log.CategoryName));
        }
    }

    /// <summary>
    /// Kestrel binds the host's addresses only when it has no endpoints of its own, or the host prefers its addresses;
    /// otherwise every endpoint seen here is a configured one, served by its callback.
    /// </summary>
    private void ServeHostingUrl(ListenOptions listenOptions, IConfiguration? kestrelConfiguration)
    {
        bool configuredEndpoints = kestrelConfiguration?.GetSection("Endpoints").GetChildren().Any() == true;
        if ((configuredEndpoints && !urls.PreferHostingUrls) || !urls.TryTake(listenOptions, out bool https))
        {
            return;
        }

        if (https)
        {
            listenOptions.UseHttps();
        }

        listenOptions.UseHttp2ServeLoop();
    }
}
