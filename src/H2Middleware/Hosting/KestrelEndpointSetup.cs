using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace H2Middleware.Hosting;

/// <summary>
/// Puts the engine on the endpoints that <see cref="ConfiguredEndpoints"/> selects, with no <c>UseHttp2ServeLoop()</c> in code.
/// <list type="bullet">
/// <item><c>Kestrel:Endpoints</c> entries, through the configuration loader's per-endpoint callback
/// (<see cref="Http2ServeLoopEndpointConfigurationExtensions"/>). The loader reads its endpoints once, and application code
/// can make it read them early: <c>UseHttps</c> in <c>ConfigureKestrel</c> does. So the callbacks are attached where
/// <c>AddHttp2ServeLoop</c> was called (after the host created the loader, before later application code), again if the
/// loader was replaced by the end, and <see cref="ThrowIfNotServed"/> checks at start that every selected endpoint got
/// the engine. A callback is one per name: the application's own for the same name, registered later, replaces ours.</item>
/// <item>The host's addresses (<c>AllEndpoints</c> only), through the endpoint defaults, which Kestrel applies to each such
/// address before its own <c>UseHttps()</c>: the hook recognises the address (<see cref="HostingUrls"/>) and adds TLS itself
/// when the address is https, then the engine; Kestrel then adds no TLS of its own.</item>
/// </list>
/// Endpoints declared in code are left alone: their defaults ran when they were declared, before the hook was added.
/// </summary>
internal sealed class KestrelEndpointSetup(ConfiguredEndpoints endpoints, HostingUrls urls, ILoggerFactory loggerFactory)
    : IConfigureOptions<KestrelServerOptions>, IPostConfigureOptions<KestrelServerOptions>
{
    private readonly ConcurrentDictionary<string, bool> _served = new(StringComparer.OrdinalIgnoreCase);
    private KestrelConfigurationLoader? _attachedTo;
    private IReadOnlyList<string> _selected = [];

    public void Configure(KestrelServerOptions options) => Attach(options.ConfigurationLoader);

    public void PostConfigure(string? name, KestrelServerOptions options)
    {
        IConfiguration? kestrelConfiguration = options.ConfigurationLoader?.Configuration;
        foreach (string endpointName in endpoints.Names)
        {
            if (kestrelConfiguration?.GetSection("Endpoints").GetSection(endpointName).Exists() != true)
            {
                throw new InvalidOperationException(
                    $"Http2ServeLoop:Endpoints names '{endpointName}', but Kestrel's configuration has no such endpoint (Kestrel:Endpoints:{endpointName}).");
            }
        }

        if (!ReferenceEquals(_attachedTo, options.ConfigurationLoader))
        {
            Attach(options.ConfigurationLoader);
        }

        if (endpoints.All && !KestrelEndpointDefaults.TryAppend(options, listenOptions => ServeHostingUrl(listenOptions, kestrelConfiguration)))
        {
            HostingLog.HostingUrlsNotServed(loggerFactory.CreateLogger(ServeLoop.Http2Log.CategoryName));
        }
    }

    /// <summary>Records that the configured endpoint <paramref name="name"/> is served by the engine.</summary>
    public void Served(string name) => _served[name] = true;

    /// <summary>Called once the server has started: every selected configured endpoint must have the engine.</summary>
    public void ThrowIfNotServed()
    {
        string[] missed = [.. _selected.Where(name => !_served.ContainsKey(name))];
        if (missed.Length > 0)
        {
            throw new InvalidOperationException(
                $"Http2ServeLoop selects the Kestrel endpoint(s) {string.Join(", ", missed)}, but the engine could not be attached to them: " +
                "Kestrel read its endpoint configuration before AddHttp2ServeLoop(configuration) attached to it (UseHttps in ConfigureKestrel " +
                "does that: call AddHttp2ServeLoop first), or code replaced the callback with its own KestrelConfigurationLoader.Endpoint(name, ...) " +
                "(call endpoint.UseHttp2ServeLoop() there).");
        }
    }

    private void Attach(KestrelConfigurationLoader? loader)
    {
        _attachedTo = loader;
        if (loader is null)
        {
            _selected = [];
            return;
        }

        IConfigurationSection configured = loader.Configuration.GetSection("Endpoints");
        _selected = endpoints.All
            ? [.. configured.GetChildren().Select(c => c.Key)]
            : [.. endpoints.Names.Where(n => configured.GetSection(n).Exists())];
        foreach (string endpointName in _selected)
        {
            loader.Endpoint(endpointName, endpoint => endpoint.UseHttp2ServeLoop());
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
