using H2Middleware;
using H2Middleware.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers H2Middleware's services.</summary>
public static class Http2ServeLoopServiceCollectionExtensions
{
    /// <summary>
    /// Lets <c>UseHttp2ServeLoop()</c> receive the host's application from the server itself: the registered
    /// <see cref="IServer"/> (Kestrel) is decorated so that <see cref="IServer.StartAsync{TContext}"/> records the
    /// application before starting as usual; nothing else about the server changes. Without it, the engine falls back to
    /// finding the application behind Kestrel's own connection handler, which reads Kestrel's internals. Call it once the
    /// server is registered (<c>WebApplication.CreateBuilder</c> has already registered Kestrel); a server registered
    /// after it, for instance by a later <c>UseKestrel()</c>, is not decorated.
    /// </summary>
    public static IServiceCollection AddHttp2ServeLoop(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<Http2ServeLoopApplicationSource>();
        services.TryAddSingleton<HostingUrls>();
        for (int i = 0; i < services.Count; i++)
        {
            ServiceDescriptor descriptor = services[i];
            if (descriptor.ServiceType == typeof(IServer) && !descriptor.IsKeyedService && descriptor.ImplementationFactory?.Target is not ServerDecoration)
            {
                services[i] = ServiceDescriptor.Describe(typeof(IServer), new ServerDecoration(descriptor).Create, descriptor.Lifetime);
            }
        }

        return services;
    }

    /// <summary>
    /// <see cref="AddHttp2ServeLoop(IServiceCollection)"/>, with <see cref="Http2ServeLoopOptions"/> bound from
    /// <paramref name="configuration"/> (usually <c>builder.Configuration.GetSection("Http2ServeLoop")</c>), so that
    /// a deployment sets the engine's limits in appsettings.json or the environment like Kestrel's own. Sizes and counts
    /// are numbers, durations TimeSpan strings (<c>"00:00:30"</c>; <c>"-00:00:00.001"</c> is infinite), data rates a section
    /// with <c>BytesPerSecond</c> and <c>GracePeriod</c>, <c>WriteScheduler</c> a name (RoundRobin, Rfc9218, Random,
    /// Rfc7540PriorityTree); an empty value turns a data rate or <c>MaxRequestBodySize</c> off. <c>TimeProvider</c> is set
    /// in code only.
    /// <para>
    /// Endpoints opt in from the same section, with no <c>UseHttp2ServeLoop()</c> in code: <c>Endpoints</c> lists names of
    /// <c>Kestrel:Endpoints</c> entries, h2c or https (the engine is placed after the endpoint's TLS); <c>AllEndpoints: true</c>
    /// takes every <c>Kestrel:Endpoints</c> entry and every address the host was given (<c>urls</c>, <c>ASPNETCORE_URLS</c>,
    /// <c>ASPNETCORE_HTTP_PORTS</c>, <c>ASPNETCORE_HTTPS_PORTS</c>). Endpoints declared in code are not affected. Call it
    /// before <c>ConfigureKestrel</c>: a <c>UseHttps</c> there makes Kestrel read its endpoint configuration at once, and
    /// a selected endpoint that did not get the engine fails the server's start.
    /// </para>
    /// </summary>
    public static IServiceCollection AddHttp2ServeLoop(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddHttp2ServeLoop();
        services.AddOptions<Http2ServeLoopOptions>().Bind(configuration);
        services.AddSingleton<IConfigureOptions<Http2ServeLoopOptions>>(new Http2ServeLoopOptionsConfiguration(configuration));
        if (!services.Any(d => d.ServiceType == typeof(KestrelEndpointSetup)))
        {
            services.AddSingleton(_ => new ConfiguredEndpoints(configuration));
            services.AddSingleton<KestrelEndpointSetup>();
            services.AddSingleton<IConfigureOptions<KestrelServerOptions>>(s => s.GetRequiredService<KestrelEndpointSetup>());
            services.AddSingleton<IPostConfigureOptions<KestrelServerOptions>>(s => s.GetRequiredService<KestrelEndpointSetup>());
        }

        return services;
    }

    /// <summary>Builds the server the original descriptor describes, as the container would have, and wraps it.</summary>
    private sealed class ServerDecoration(ServiceDescriptor original)
    {
        public object Create(IServiceProvider services)
        {
            var source = services.GetRequiredService<Http2ServeLoopApplicationSource>();
            var urls = services.GetRequiredService<HostingUrls>();
            var endpoints = services.GetService<KestrelEndpointSetup>();
            if (original.ImplementationInstance is { } instance)
            {
                return new Http2ServeLoopServer((IServer)instance, source, urls, endpoints, ownsInner: false);
            }

            object server = original.ImplementationFactory is { } factory
                ? factory(services)
                : ActivatorUtilities.CreateInstance(services, original.ImplementationType!);
            return new Http2ServeLoopServer((IServer)server, source, urls, endpoints, ownsInner: true);
        }
    }
}
