using System.Diagnostics.Metrics;
using H2Middleware;
using H2Middleware.Hosting;
using H2Middleware.ServeLoop;
using H2Middleware.Telemetry;
using Microsoft.AspNetCore.Connections;
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
    /// refused (HTTP/2 forbids the renegotiation that needs). Call <c>builder.Services.AddHttp2ServeLoop()</c> too, so the
    /// server hands the engine the host's application; without it, the application is found behind Kestrel's own
    /// connection handler. Options start from any <c>Configure&lt;Http2ServeLoopOptions&gt;</c>
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
        Http2Metrics metrics = Http2Metrics.Create(services.GetService<IMeterFactory>());
        listenOptions.Use(next =>
        {
            bool allowsHttp1 = (listenOptions.Protocols & HttpProtocols.Http1) != 0;
            StreamApplication application = FindApplication(listenOptions, next, loggerFactory);
            return new Http2ServeLoopMiddleware(next, options, application, allowsHttp1, loggerFactory, metrics, AltSvcAdvertisement.For(listenOptions)).OnConnectionAsync;
        });
        return listenOptions;
    }

    /// <summary>
    /// Runs while Kestrel builds the endpoint's pipeline, inside <c>IServer.StartAsync</c>: the application it was given
    /// is then in <see cref="Http2ServeLoopApplicationSource"/> when <c>AddHttp2ServeLoop()</c> decorated the server;
    /// otherwise it is looked for behind Kestrel's own connection handler.
    /// </summary>
    private static StreamApplication FindApplication(ListenOptions listenOptions, ConnectionDelegate next, ILoggerFactory loggerFactory)
    {
        Http2ServeLoopApplicationSource? source = listenOptions.ApplicationServices.GetService<Http2ServeLoopApplicationSource>();
        if (source?.Application is { } recorded)
        {
            if (!KestrelApplicationDiscovery.IsKestrelHandler(next))
            {
                HostingLog.NotLastConnectionMiddleware(loggerFactory.CreateLogger(Http2Log.CategoryName), listenOptions.ToString() ?? string.Empty);
            }

            return recorded;
        }

        if (KestrelApplicationDiscovery.TryFind(next) is { } discovered)
        {
            return discovered;
        }

        if (source is null)
        {
            throw new InvalidOperationException(
                "UseHttp2ServeLoop() could not find the host's application. Call builder.Services.AddHttp2ServeLoop() so that the " +
                "server hands it over, and make UseHttp2ServeLoop() the endpoint's last connection middleware (after UseHttps): " +
                "it serves the application Kestrel would have run.");
        }

        throw new InvalidOperationException(source.ServerDecorated
            ? "UseHttp2ServeLoop(): AddHttp2ServeLoop() was called, but the endpoint's pipeline was built before the server " +
              "received the host's application."
            : "UseHttp2ServeLoop(): AddHttp2ServeLoop() was called, but the server that started is not the one it decorated: " +
              "call builder.Services.AddHttp2ServeLoop() after the server is registered (after any UseKestrel()).");
    }
}
