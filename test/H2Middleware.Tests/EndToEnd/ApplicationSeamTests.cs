using System.Collections.Concurrent;
using System.Net;
using H2Middleware.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// <c>AddHttp2ServeLoop()</c>: the registered server is decorated so that it hands the host's application to the engine
/// at start, instead of the engine reading it out of Kestrel's connection handler.
/// </summary>
public class ApplicationSeamTests
{
    private static void MapWhoServed(WebApplication app) =>
        app.MapGet("/who", (HttpContext context) => KestrelTestHost.ServedByEngine(context) ? "engine" : "kestrel");

    [Fact]
    public async Task WithTheSeamTheEngineServesHttp2WithTheApplicationTheServerReceived()
    {
        await using var host = await KestrelTestHost.StartAsync(MapWhoServed, configureServices: services => services.AddHttp2ServeLoop());

        var server = Assert.IsType<Http2ServeLoopServer>(host.Services.GetRequiredService<IServer>());
        Assert.Equal("KestrelServerImpl", server.Inner.GetType().Name);
        StreamApplication? recorded = host.Services.GetRequiredService<Http2ServeLoopApplicationSource>().Application;
        Assert.NotNull(recorded);
        Assert.True(recorded.GetType().IsGenericType);
        Assert.Equal(typeof(HostedStreamApplication<>), recorded.GetType().GetGenericTypeDefinition());

        using HttpClient client = host.CreateHttp2Client();
        using HttpResponseMessage response = await client.GetAsync("/who");
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("engine", await response.Content.ReadAsStringAsync());

        using var http11 = new HttpRequestMessage(HttpMethod.Get, "/who") { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using HttpResponseMessage kestrelResponse = await client.SendAsync(http11);
        Assert.Equal(HttpVersion.Version11, kestrelResponse.Version);
        Assert.Equal("kestrel", await kestrelResponse.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// Discovery cannot see through a middleware after the engine, so this serves only through the seam. The middleware
    /// sees the connections the engine hands on (HTTP/1.1), never the HTTP/2 ones: a warning says so at start.
    /// </summary>
    [Fact]
    public async Task WithTheSeamAConnectionMiddlewareAfterTheEngineIsAcceptedAndSeesOnlyWhatTheEngineHandsOn()
    {
        int connectionsAfterEngine = 0;
        var log = new CapturingLoggerProvider();
        await using var host = await KestrelTestHost.StartAsync(
            MapWhoServed,
            configureServices: services =>
            {
                services.AddHttp2ServeLoop();
                services.AddSingleton<ILoggerProvider>(log);
            },
            afterEngine: listen => listen.Use(next => context =>
            {
                Interlocked.Increment(ref connectionsAfterEngine);
                return next(context);
            }));

        using HttpClient client = host.CreateHttp2Client();
        Assert.Equal("engine", await client.GetStringAsync("/who"));
        Assert.Equal(0, Volatile.Read(ref connectionsAfterEngine));

        using var http11 = new HttpRequestMessage(HttpMethod.Get, "/who") { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using HttpResponseMessage response = await client.SendAsync(http11);
        Assert.Equal("kestrel", await response.Content.ReadAsStringAsync());
        Assert.Equal(1, Volatile.Read(ref connectionsAfterEngine));

        Assert.Contains(log.Messages, m => m.Level == LogLevel.Warning && m.Text.Contains("not the endpoint's last connection middleware", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithoutTheSeamAMisplacedEngineIsRefusedWithBothWaysOut()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.UseHttp2ServeLoop();
            listen.Use(next => context => next(context));
        }));
        await using WebApplication app = builder.Build();
        app.MapGet("/", () => "ok");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync());
        Assert.Contains("builder.Services.AddHttp2ServeLoop()", error.Message);
        Assert.Contains("last connection middleware", error.Message);
    }

    [Fact]
    public async Task AServerRegisteredAfterTheSeamIsNotDecoratedAndDiscoveryStillServes()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddHttp2ServeLoop();
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttp2ServeLoop()));
        await using WebApplication app = builder.Build();
        MapWhoServed(app);
        await app.StartAsync();
        try
        {
            Assert.IsNotType<Http2ServeLoopServer>(app.Services.GetRequiredService<IServer>());
            Assert.Null(app.Services.GetRequiredService<Http2ServeLoopApplicationSource>().Application);

            string address = app.Urls.First().Replace("localhost", "127.0.0.1");
            using var client = new HttpClient { BaseAddress = new Uri(address), DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
            Assert.Equal("engine", await client.GetStringAsync("/who"));
        }
        finally
        {
            await app.StopAsync();
        }
    }

    [Fact]
    public async Task StartRecordsTheApplicationThenStartsTheServerItWasGiven()
    {
        var inner = new FakeServer();
        var services = new ServiceCollection();
        services.AddSingleton<IServer>(_ => inner);
        services.AddHttp2ServeLoop();
        await using ServiceProvider provider = services.BuildServiceProvider();

        IServer server = provider.GetRequiredService<IServer>();
        var source = provider.GetRequiredService<Http2ServeLoopApplicationSource>();
        Assert.Null(source.Application);
        Assert.Same(inner.Features, server.Features);

        var application = new FakeApplication();
        await server.StartAsync(application, CancellationToken.None);
        Assert.Same(application, inner.StartedWith);
        Assert.IsType<HostedStreamApplication<object>>(source.Application);

        await server.StopAsync(CancellationToken.None);
        Assert.True(inner.Stopped);
    }

    [Fact]
    public async Task EveryKindOfServerRegistrationIsDecoratedOnceAndDisposedByWhoeverOwnsIt()
    {
        var instance = new FakeServer();
        FakeServer? fromFactory = null;
        var registrations = new (string Kind, Action<IServiceCollection> Register)[]
        {
            ("type", s => s.AddSingleton<IServer, FakeServer>()),
            ("factory", s => s.AddSingleton<IServer>(_ => fromFactory = new FakeServer())),
            ("instance", s => s.AddSingleton<IServer>(instance)),
        };

        foreach ((string kind, Action<IServiceCollection> register) in registrations)
        {
            var services = new ServiceCollection();
            register(services);
            services.AddHttp2ServeLoop();
            services.AddHttp2ServeLoop();
            Assert.Single(services, d => d.ServiceType == typeof(IServer));
            Assert.Single(services, d => d.ServiceType == typeof(Http2ServeLoopApplicationSource));

            FakeServer inner;
            await using (ServiceProvider provider = services.BuildServiceProvider())
            {
                var server = Assert.IsType<Http2ServeLoopServer>(provider.GetRequiredService<IServer>());
                inner = Assert.IsType<FakeServer>(server.Inner);
                Assert.IsNotType<Http2ServeLoopServer>(inner);
                if (kind == "instance")
                {
                    Assert.Same(instance, inner);
                }
                else if (kind == "factory")
                {
                    Assert.Same(fromFactory, inner);
                }
            }

            // The container never disposes a registered instance; wrapping it must not start to.
            Assert.Equal(kind != "instance", inner.Disposed);
        }
    }

    private sealed class FakeServer : IServer
    {
        public IFeatureCollection Features { get; } = new FeatureCollection();

        public object? StartedWith { get; private set; }

        public bool Stopped { get; private set; }

        public bool Disposed { get; private set; }

        public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken) where TContext : notnull
        {
            StartedWith = application;
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            Stopped = true;
            return Task.CompletedTask;
        }

        public void Dispose() => Disposed = true;
    }

    private sealed class FakeApplication : IHttpApplication<object>
    {
        public object CreateContext(IFeatureCollection contextFeatures) => new();

        public Task ProcessRequestAsync(object context) => Task.CompletedTask;

        public void DisposeContext(object context, Exception? exception)
        {
        }
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<(LogLevel Level, string Text)> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider provider) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => provider.Messages.Enqueue((logLevel, formatter(state, exception)));
        }
    }
}
