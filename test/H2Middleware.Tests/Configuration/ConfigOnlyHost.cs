using System.Net;
using H2Middleware.Tests.EndToEnd;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace H2Middleware.Tests.Configuration;

/// <summary>
/// A real Kestrel host whose endpoints and engine settings come only from configuration: the code calls
/// <c>AddHttp2ServeLoop(configuration.GetSection("Http2ServeLoop"))</c> and nothing else of ours. <c>/who</c> answers
/// "engine" or "kestrel" by who served the request.
/// </summary>
internal sealed class ConfigOnlyHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ConfigOnlyHost(WebApplication app) => _app = app;

    public IServiceProvider Services => _app.Services;

    /// <summary>The bound addresses, 127.0.0.1 with their real ports.</summary>
    public IReadOnlyList<Uri> Addresses =>
        [.. _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a.Replace("[::]", "127.0.0.1").Replace("localhost", "127.0.0.1")))];

    public Uri Address(string scheme) => Addresses.Single(a => a.Scheme == scheme);

    /// <param name="configuration">The host's configuration.</param>
    /// <param name="configure">Application code, after <c>AddHttp2ServeLoop</c>.</param>
    /// <param name="configureFirst">Application code before <c>AddHttp2ServeLoop</c>.</param>
    public static async Task<ConfigOnlyHost> StartAsync(
        Dictionary<string, string?> configuration, Action<WebApplicationBuilder>? configure = null, Action<WebApplicationBuilder>? configureFirst = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.Configuration.AddInMemoryCollection(configuration);
        configureFirst?.Invoke(builder);
        builder.Services.AddHttp2ServeLoop(builder.Configuration.GetSection("Http2ServeLoop"));
        configure?.Invoke(builder);
        WebApplication app = builder.Build();
        app.MapGet("/who", (HttpContext context) => KestrelTestHost.ServedByEngine(context) ? "engine" : "kestrel");
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return new ConfigOnlyHost(app);
    }

    /// <summary>Who serves a GET /who over <paramref name="version"/> (HTTP/2: prior knowledge on http, ALPN h2 on https).</summary>
    public static async Task<string> WhoAsync(Uri address, Version version)
    {
        using var client = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } })
        {
            BaseAddress = address,
            DefaultRequestVersion = version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(30),
        };
        using HttpResponseMessage response = await client.GetAsync("/who");
        Assert.Equal(version, response.Version);
        return await response.Content.ReadAsStringAsync();
    }

    public static Task<string> WhoOverHttp2Async(Uri address) => WhoAsync(address, HttpVersion.Version20);

    public static Task<string> WhoOverHttp11Async(Uri address) => WhoAsync(address, HttpVersion.Version11);

    public async ValueTask DisposeAsync()
    {
        using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(stopTimeout.Token);
        await _app.DisposeAsync();
    }
}
