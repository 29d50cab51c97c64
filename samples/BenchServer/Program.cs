using System.Net;
using H2Middleware.Scheduling;
using Microsoft.AspNetCore.Server.Kestrel.Core;

// One app, three cleartext HTTP/2 (prior knowledge) endpoints with the same routes: Kestrel's own HTTP/2 on the
// first port, H2Middleware on the second, and H2Middleware with the RFC 7540 priority tree on the third (for the
// weights scenario). Used by build/bench.sh.
int kestrelPort = args.Length > 0 ? int.Parse(args[0]) : 6080;
int enginePort = args.Length > 1 ? int.Parse(args[1]) : 6081;
int treePort = args.Length > 2 ? int.Parse(args[2]) : 6082;

// The priority scenario opens a download and 200 small requests at once.
const int maxStreamsPerConnection = 256;

var builder = WebApplication.CreateSlimBuilder();
builder.Services.AddHttp2ServeLoop();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Limits.MaxRequestBodySize = null;
    kestrel.Limits.Http2.MaxStreamsPerConnection = maxStreamsPerConnection;
    kestrel.Listen(IPAddress.Loopback, kestrelPort, listen => listen.Protocols = HttpProtocols.Http2);
    kestrel.Listen(IPAddress.Loopback, enginePort, listen =>
    {
        listen.Protocols = HttpProtocols.Http2;
        listen.UseHttp2ServeLoop(options =>
        {
            options.MaxRequestBodySize = null;
            options.MaxStreamsPerConnection = maxStreamsPerConnection;
        });
    });
    kestrel.Listen(IPAddress.Loopback, treePort, listen =>
    {
        listen.Protocols = HttpProtocols.Http2;
        listen.UseHttp2ServeLoop(options =>
        {
            options.MaxRequestBodySize = null;
            options.MaxStreamsPerConnection = maxStreamsPerConnection;
            options.WriteSchedulerFactory = WriteSchedulers.Rfc7540PriorityTree;
        });
    });
});

var app = builder.Build();
byte[] hello = "Hello, world!"u8.ToArray();
byte[] block = new byte[64 * 1024];
Random.Shared.NextBytes(block);

app.MapGet("/hello", (HttpContext context) =>
{
    context.Response.ContentType = "text/plain";
    context.Response.ContentLength = hello.Length;
    return context.Response.Body.WriteAsync(hello).AsTask();
});

app.MapGet("/bytes/{count:int}", async (HttpContext context, int count) =>
{
    context.Response.ContentType = "application/octet-stream";
    context.Response.ContentLength = count;
    for (int sent = 0; sent < count; sent += block.Length)
    {
        await context.Response.Body.WriteAsync(block.AsMemory(0, Math.Min(block.Length, count - sent)));
    }
});

app.MapPost("/echo-len", async (HttpContext context) =>
{
    long length = 0;
    var reader = context.Request.BodyReader;
    while (true)
    {
        var result = await reader.ReadAsync();
        length += result.Buffer.Length;
        reader.AdvanceTo(result.Buffer.End);
        if (result.IsCompleted)
        {
            break;
        }
    }

    await context.Response.WriteAsync(length.ToString());
});

// Bytes allocated by the whole process so far: read before and after a run to get allocations per request.
app.MapGet("/allocated", () => GC.GetTotalAllocatedBytes(precise: true).ToString());

app.Run();
