using Microsoft.AspNetCore.Hosting.Server;

namespace H2Middleware.Hosting;

/// <summary>
/// Holds the application the host passed to <see cref="IServer.StartAsync{TContext}"/>, recorded there by the
/// <see cref="Http2ServeLoopServer"/> that <c>AddHttp2ServeLoop()</c> puts around the registered server. Kestrel builds
/// each endpoint's connection pipeline inside <c>StartAsync</c>, after it received the application, so
/// <c>UseHttp2ServeLoop()</c> finds it here when its middleware is built.
/// </summary>
internal sealed class Http2ServeLoopApplicationSource
{
    private volatile StreamApplication? _application;

    /// <summary>The application of the server's last start, adapted for the engine; null before the server starts.</summary>
    public StreamApplication? Application => _application;

    /// <summary>Whether an <see cref="Http2ServeLoopServer"/> reporting here was made (the registered server was decorated).</summary>
    public bool ServerDecorated { get; private set; }

    internal void OnServerDecorated() => ServerDecorated = true;

    internal void OnServerStarting<TContext>(IHttpApplication<TContext> application) where TContext : notnull
        => _application = new HostedStreamApplication<TContext>(application);
}
