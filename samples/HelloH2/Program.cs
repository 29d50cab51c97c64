using System.Net;
using System.Security.Cryptography.X509Certificates;
using H2Middleware.Scheduling;

// Served by H2Middleware: h2c (prior knowledge) on 127.0.0.1:5080 and TLS with ALPN h2 on 127.0.0.1:5443, declared here,
// and h2c on 127.0.0.1:5081, declared in appsettings.json (Kestrel:Endpoints) and opted in there (Http2ServeLoop:Endpoints).
// The engine's settings come from the Http2ServeLoop section; code can still override them per endpoint. HTTP/1.1 on
// any of the ports still goes to Kestrel.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddHttp2ServeLoop(builder.Configuration.GetSection("Http2ServeLoop"));
X509Certificate2 certificate = HelloH2.SelfSignedCertificate.Create();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Loopback, 5080, listen => listen.UseHttp2ServeLoop());
    kestrel.Listen(IPAddress.Loopback, 5443, listen =>
    {
        listen.UseHttps(certificate);
        listen.UseHttp2ServeLoop(options => options.MaxStreamsPerConnection = 200);
    });
});

var app = builder.Build();

app.MapGet("/", (HttpContext context) =>
    $"Hello over {context.Request.Protocol} from {(context.Features.Get<IHttp2StreamPriorityFeature>() is null ? "Kestrel" : "H2Middleware")}\n");
app.MapGet("/hello", () => "Hello, world!");
app.MapPost("/echo", async (HttpContext context) => await context.Request.Body.CopyToAsync(context.Response.Body));

app.Run();
