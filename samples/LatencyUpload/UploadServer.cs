using System.Net;
using H2Middleware;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace LatencyUpload;

/// <summary>
/// One Kestrel host, three cleartext HTTP/2 endpoints with the same <c>POST /upload</c> (reads the body, answers with its
/// length): H2Middleware with adaptive receive windows (its default), H2Middleware with fixed windows, and Kestrel's own
/// HTTP/2. The initial windows are the same on all three (Kestrel's defaults: 768 KiB per stream, 1 MiB per connection).
/// </summary>
internal sealed class UploadServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private UploadServer(WebApplication app) => _app = app;

    public static IReadOnlyList<string> Endpoints { get; } = ["adaptive", "fixed", "kestrel"];

    public Dictionary<string, IPEndPoint> Addresses { get; } = [];

    public static async Task<UploadServer> StartAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var listeners = new Dictionary<string, ListenOptions>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;
            foreach (string endpoint in Endpoints)
            {
                kestrel.Listen(IPAddress.Loopback, 0, listen =>
                {
                    listen.Protocols = HttpProtocols.Http2;
                    if (endpoint != "kestrel")
                    {
                        listen.UseHttp2ServeLoop(options =>
                        {
                            options.MaxRequestBodySize = null;
                            options.EnableAdaptiveReceiveWindows = endpoint == "adaptive";
                        });
                    }

                    listeners[endpoint] = listen;
                });
            }
        });

        WebApplication app = builder.Build();
        app.MapPost("/upload", async (HttpContext context) =>
        {
            var buffer = new byte[64 * 1024];
            long total = 0;
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
            {
                total += read;
            }

            await context.Response.WriteAsync(total.ToString(System.Globalization.CultureInfo.InvariantCulture));
        });
        await app.StartAsync();

        // Kestrel writes the port it bound back into each endpoint's options.
        var server = new UploadServer(app);
        foreach ((string endpoint, ListenOptions listen) in listeners)
        {
            server.Addresses[endpoint] = listen.IPEndPoint!;
        }

        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
