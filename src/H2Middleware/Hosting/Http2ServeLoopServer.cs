using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Hosting;

/// <summary>
/// The registered <see cref="IServer"/> (Kestrel), unchanged except that <see cref="StartAsync{TContext}"/> first
/// records the host's application in <see cref="Http2ServeLoopApplicationSource"/> and the addresses it was given in
/// <see cref="HostingUrls"/>, and once started checks that the endpoints configuration selected have the engine
/// (<see cref="KestrelEndpointSetup"/>). Everything else is forwarded.
/// </summary>
internal sealed class Http2ServeLoopServer : IServer, IAsyncDisposable
{
    private readonly IServer _inner;
    private readonly Http2ServeLoopApplicationSource _source;
    private readonly HostingUrls _urls;
    private readonly KestrelEndpointSetup? _endpoints;
    private readonly bool _ownsInner;

    /// <param name="inner">The server the host would have used.</param>
    /// <param name="source">Where the application is recorded.</param>
    /// <param name="urls">Where the host's addresses are recorded.</param>
    /// <param name="endpoints">The endpoints configuration selected for the engine, if <c>AddHttp2ServeLoop(IConfiguration)</c> was called.</param>
    /// <param name="ownsInner">
    /// False when the server was registered as an instance: the container never disposed it, so neither do we.
    /// </param>
    public Http2ServeLoopServer(IServer inner, Http2ServeLoopApplicationSource source, HostingUrls urls, KestrelEndpointSetup? endpoints, bool ownsInner)
    {
        _inner = inner;
        _source = source;
        _urls = urls;
        _endpoints = endpoints;
        _ownsInner = ownsInner;
        source.OnServerDecorated();
    }

    /// <summary>The decorated server.</summary>
    public IServer Inner => _inner;

    public IFeatureCollection Features => _inner.Features;

    public async Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken) where TContext : notnull
    {
        ArgumentNullException.ThrowIfNull(application);
        _source.OnServerStarting(application);
        _urls.Record(_inner.Features.Get<IServerAddressesFeature>());
        await _inner.StartAsync(application, cancellationToken);
        try
        {
            _endpoints?.ThrowIfNotServed();
        }
        catch
        {
            await _inner.StopAsync(CancellationToken.None);
            throw;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => _inner.StopAsync(cancellationToken);

    public void Dispose()
    {
        if (_ownsInner)
        {
            _inner.Dispose();
        }
    }

    public ValueTask DisposeAsync()
    {
        if (!_ownsInner)
        {
            return ValueTask.CompletedTask;
        }

        if (_inner is IAsyncDisposable asyncDisposable)
        {
            return asyncDisposable.DisposeAsync();
        }

        _inner.Dispose();
        return ValueTask.CompletedTask;
    }
}
