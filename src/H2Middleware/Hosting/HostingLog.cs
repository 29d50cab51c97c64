using Microsoft.Extensions.Logging;

namespace H2Middleware.Hosting;

/// <summary>Log messages about attaching the engine to the host (category <c>H2Middleware</c>; event ids from 100).</summary>
internal static partial class HostingLog
{
    [LoggerMessage(100, LogLevel.Warning,
        "UseHttp2ServeLoop() on {Endpoint} is not the endpoint's last connection middleware, or Kestrel's HTTP handler was not recognised after it. " +
        "HTTP/2 connections are served by the engine and never reach connection middleware added after UseHttp2ServeLoop(); call it last, after UseHttps().")]
    public static partial void NotLastConnectionMiddleware(ILogger logger, string endpoint);

    [LoggerMessage(101, LogLevel.Warning,
        "Http2ServeLoop:AllEndpoints: Kestrel's endpoint defaults could not be extended, so the host's addresses (urls, ASPNETCORE_URLS, " +
        "ASPNETCORE_HTTP_PORTS) are served by Kestrel's HTTP/2. Endpoints under Kestrel:Endpoints are served by the engine.")]
    public static partial void HostingUrlsNotServed(ILogger logger);
}
