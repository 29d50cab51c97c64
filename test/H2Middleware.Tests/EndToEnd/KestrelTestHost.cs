using System.Net;
using System.Security.Cryptography.X509Certificates;
using H2Middleware.Scheduling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>A real Kestrel server on 127.0.0.1 (a free port) whose endpoint is served by UseHttp2ServeLoop().</summary>
internal sealed class KestrelTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private KestrelTestHost(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public int Port => BaseAddress.Port;

    public IServiceProvider Services => _app.Services;

    public static async Task<KestrelTestHost> StartAsync(
        Action<WebApplication> configureApp,
        bool tls = false,
        Action<Http2ServeLoopOptions>? configureEngine = null,
        Action<IServiceCollection>? configureServices = null,
        HttpProtocols protocols = HttpProtocols.Http1AndHttp2,
        Action<ListenOptions>? afterEngine = null,
        Action<ListenOptions>? beforeEngine = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        configureServices?.Invoke(builder.Services);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = protocols;
                if (tls)
                {
                    listen.UseHttps(TestCertificate.Value);
                }

                beforeEngine?.Invoke(listen);
                listen.UseHttp2ServeLoop(configureEngine);
                afterEngine?.Invoke(listen);
            });
        });

        WebApplication app = builder.Build();
        configureApp(app);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new KestrelTestHost(app, new Uri(address.Replace("[::]", "127.0.0.1").Replace("localhost", "127.0.0.1")));
    }

    /// <summary>An HttpClient that speaks HTTP/2 only (prior knowledge on cleartext, ALPN h2 on TLS).</summary>
    public HttpClient CreateHttp2Client()
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
            EnableMultipleHttp2Connections = false,
        };
        return new HttpClient(handler)
        {
            BaseAddress = BaseAddress,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(60),
        };
    }

    /// <summary>Stops the host as a process shutdown would: Kestrel asks every connection to close gracefully within the token's time.</summary>
    public Task StopAsync(CancellationToken cancellationToken) => _app.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(stopTimeout.Token);
        await _app.DisposeAsync();
    }

    /// <summary>Our engine's marker: Kestrel's own HTTP/2 never offers this feature.</summary>
    public static bool ServedByEngine(HttpContext context) => context.Features.Get<IHttp2StreamPriorityFeature>() is not null;

    private static readonly Lazy<X509Certificate2> TestCertificate = new(HelloH2.SelfSignedCertificate.Create);
}
