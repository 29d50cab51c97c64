using H2Middleware;
using H2Middleware.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Serves the HTTP/2 connections of a Kestrel endpoint with H2Middleware's serve loop.</summary>
public static class Http2ServeLoopListenOptionsExtensions
{
    /// <summary>
    /// Every HTTP/2 connection on this endpoint is served by H2Middleware instead of Kestrel's built-in HTTP/2;
    /// other connections (HTTP/1.1, or TLS without ALPN h2) go on to Kestrel. Call it after <c>UseHttps</c> and
    /// as the endpoint's last connection middleware; an endpoint whose HTTPS options delay the client certificate is
    /// refused (HTTP/2 forbids the renegotiation that needs). Options start from any <c>Configure&lt;Http2ServeLoopOptions&gt;</c>
    /// in the application's services, then <paramref name="configure"/> applies.
    /// </summary>
    public static ListenOptions UseHttp2ServeLoop(this ListenOptions listenOptions, Action<Http2ServeLoopOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        DelayedClientCertificateCheck.ThrowIfDelayed(listenOptions);
        IServiceProvider services = listenOptions.ApplicationServices;
        Http2ServeLoopOptions options = services.GetService<IOptionsFactory<Http2ServeLoopOptions>>()?.Create(Options.DefaultName) ?? new Http2ServeLoopOptions();
        configure?.Invoke(options);
        options.Validate();

        ILoggerFactory loggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        listenOptions.Use(next =>
        {
            bool allowsHttp1 = (listenOptions.Protocols & HttpProtocols.Http1) != 0;
            StreamApplication application = KestrelApplicationDiscovery.TryFind(next)
                ?? throw new InvalidOperationException(
                    "UseHttp2ServeLoop() must be the endpoint's last connection middleware (after UseHttps): it serves the application Kestrel would have run.");
            return new Http2ServeLoopMiddleware(next, options, application, allowsHttp1, loggerFactory).OnConnectionAsync;
        });
        return listenOptions;
    }
}
