using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace ProxyFarm;

/// <summary>
/// The whole layout in one process: backends b1…bN, each its own host on its own port, and the proxy in front of them.
/// Taking a backend out is two steps, as in a real deployment: out of the proxy's rotation first, then a graceful stop,
/// so that no client request meets a backend that is going away.
/// </summary>
internal sealed class Farm : IAsyncDisposable
{
    private readonly Dictionary<string, Uri> _inRotation;
    private readonly HashSet<string> _stopped = [];

    private Farm(WebApplication proxy, Dictionary<string, WebApplication> backends, Dictionary<string, Uri> inRotation)
    {
        Proxy = proxy;
        Backends = backends;
        _inRotation = inRotation;
        ProxyAddress = AddressOf(proxy);
    }

    public WebApplication Proxy { get; }

    public IReadOnlyDictionary<string, WebApplication> Backends { get; }

    public Uri ProxyAddress { get; }

    /// <summary>The backends the proxy forwards to: all of them, less those taken out.</summary>
    public IReadOnlyCollection<string> InRotation => _inRotation.Keys;

    /// <summary>
    /// Starts the backends on <paramref name="backendPorts"/>, then the proxy on <paramref name="proxyPort"/> (0: any free
    /// port). <paramref name="configureBackend"/> and <paramref name="configureProxy"/> may add middleware before each starts.
    /// </summary>
    public static async Task<Farm> StartAsync(
        int proxyPort,
        IReadOnlyList<int> backendPorts,
        Action<string, WebApplication>? configureBackend = null,
        Action<WebApplication>? configureProxy = null)
    {
        var backends = new Dictionary<string, WebApplication>();
        var addresses = new Dictionary<string, Uri>();
        WebApplication? proxy = null;
        try
        {
            for (int i = 0; i < backendPorts.Count; i++)
            {
                string name = $"b{i + 1}";
                WebApplication backend = Backend.Create(name, backendPorts[i]);
                backends.Add(name, backend);
                configureBackend?.Invoke(name, backend);
                await backend.StartAsync();
                addresses.Add(name, AddressOf(backend));
            }

            proxy = FrontProxy.Create(proxyPort, addresses);
            configureProxy?.Invoke(proxy);
            await proxy.StartAsync();
            return new Farm(proxy, backends, addresses);
        }
        catch
        {
            foreach (WebApplication app in backends.Values.Append(proxy).OfType<WebApplication>())
            {
                await app.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>
    /// Takes backend <paramref name="name"/> out of the proxy's rotation and returns once YARP has applied the change and
    /// no proxied request to it is in flight any more. A request that chose it just before the change raises its count
    /// a few instructions later, so the count must stay at zero for a moment before the backend counts as idle.
    /// </summary>
    public async Task RemoveFromProxyAsync(string name, CancellationToken cancel)
    {
        var lookup = Proxy.Services.GetRequiredService<IProxyStateLookup>();
        if (!lookup.TryGetCluster(FrontProxy.ClusterId, out ClusterState? cluster) || !cluster.Destinations.TryGetValue(name, out DestinationState? leaving))
        {
            throw new InvalidOperationException($"{name} is not in the proxy's rotation.");
        }

        _inRotation.Remove(name);
        FrontProxy.SetDestinations(Proxy, _inRotation);
        while (cluster.DestinationsState.AllDestinations.Contains(leaving))
        {
            await Task.Delay(10, cancel);
        }

        for (int quiet = 0; quiet < 5; quiet = leaving.ConcurrentRequestCount == 0 ? quiet + 1 : 0)
        {
            await Task.Delay(20, cancel);
        }
    }

    /// <summary>Stops backend <paramref name="name"/> as a process shutdown would: Kestrel closes its connections gracefully (GOAWAY).</summary>
    public async Task StopBackendAsync(string name, CancellationToken cancel)
    {
        await Backends[name].StopAsync(cancel);
        _stopped.Add(name);
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Proxy.StopAsync(timeout.Token);
        await Proxy.DisposeAsync();
        foreach ((string name, WebApplication backend) in Backends)
        {
            if (_stopped.Add(name))
            {
                await backend.StopAsync(timeout.Token);
            }

            await backend.DisposeAsync();
        }
    }

    /// <summary>The address a started app is bound to (the port the system chose, when asked for 0).</summary>
    private static Uri AddressOf(WebApplication app) => new(app.Urls.First());
}
