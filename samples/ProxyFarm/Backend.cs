using System.Net;
using H2Middleware.Scheduling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ProxyFarm;

/// <summary>
/// One backend instance: an ordinary ASP.NET Core app whose 127.0.0.1 endpoint is served by H2Middleware, so the
/// proxy's h2c connections land on the engine. It answers a hello (saying which instance answered, over which protocol,
/// served by whom), a gRPC service and a WebSocket echo.
/// </summary>
internal static class Backend
{
    /// <summary>The response header naming the instance, so a client behind the proxy can see the spread.</summary>
    public const string NameHeader = "x-backend";

    /// <summary>Builds, without starting, the backend <paramref name="name"/> listening on <paramref name="port"/> (0: any free port).</summary>
    public static WebApplication Create(string name, int port)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddHttp2ServeLoop();
        builder.Services.AddSingleton<IHostLifetime, SharedProcessLifetime>();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new BackendName(name));
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.UseHttp2ServeLoop()));

        WebApplication app = builder.Build();
        app.UseWebSockets();
        app.MapGet("/", (HttpContext context) =>
        {
            context.Response.Headers[NameHeader] = name;
            string server = context.Features.Get<IHttp2StreamPriorityFeature>() is null ? "Kestrel" : "H2Middleware";
            return $"Hello from {name} over {context.Request.Protocol} ({server})\n";
        });
        app.MapGrpcService<Greeter>();
        app.Map("/ws", WebSocketEcho.HandleAsync);
        return app;
    }
}
