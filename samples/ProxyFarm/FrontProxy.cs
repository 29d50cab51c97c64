using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.LoadBalancing;

namespace ProxyFarm;

/// <summary>
/// The front: YARP on one 127.0.0.1 port, balancing every path round-robin over the backends with HTTP/2 only
/// (h2c prior knowledge, since the destinations are <c>http://</c>). Its own endpoint is served by H2Middleware too, so
/// the one port takes h2c from clients (gRPC, WebSockets over HTTP/2) and HTTP/1.1 (Kestrel).
/// </summary>
internal static class FrontProxy
{
    public const string ClusterId = "backends";

    private static readonly RouteConfig[] Routes =
    [
        new RouteConfig { RouteId = "everything", ClusterId = ClusterId, Match = new RouteMatch { Path = "{**catch-all}" } },
    ];

    /// <summary>Builds, without starting, the proxy on <paramref name="port"/> (0: any free port) over <paramref name="destinations"/> (name to address).</summary>
    public static WebApplication Create(int port, IReadOnlyDictionary<string, Uri> destinations)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddHttp2ServeLoop();
        builder.Services.AddSingleton<IHostLifetime, SharedProcessLifetime>();
        builder.Services.AddReverseProxy().LoadFromMemory(Routes, [Cluster(destinations)]);
        builder.Services.AddDataProtection().UseEphemeralDataProtectionProvider();   // YARP's affinity cookies, unused here: no key on disk
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.UseHttp2ServeLoop()));

        WebApplication app = builder.Build();
        app.MapReverseProxy();
        return app;
    }

    /// <summary>Replaces the proxy's destinations; YARP applies the new set to requests that start after it.</summary>
    public static void SetDestinations(WebApplication proxy, IReadOnlyDictionary<string, Uri> destinations) =>
        proxy.Services.GetRequiredService<InMemoryConfigProvider>().Update(Routes, [Cluster(destinations)]);

    /// <summary>
    /// The cluster. <c>Version = 2</c> with <c>RequestVersionExact</c> is the key: YARP's default policy
    /// (<c>RequestVersionOrLower</c>) speaks HTTP/1.1 to <c>http://</c> destinations, because only TLS ALPN negotiates
    /// HTTP/2, and gRPC needs HTTP/2 end to end. The exact version also makes YARP forward WebSockets to the backends as
    /// extended CONNECT over HTTP/2 (RFC 8441) instead of an HTTP/1.1 upgrade.
    /// </summary>
    private static ClusterConfig Cluster(IReadOnlyDictionary<string, Uri> destinations) => new()
    {
        ClusterId = ClusterId,
        LoadBalancingPolicy = LoadBalancingPolicies.RoundRobin,
        HttpRequest = new ForwarderRequestConfig { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact },
        Destinations = destinations.ToDictionary(d => d.Key, d => new DestinationConfig { Address = d.Value.ToString() }),
    };
}
