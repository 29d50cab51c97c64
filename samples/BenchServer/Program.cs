using System.Net;
using System.Security.Cryptography.X509Certificates;
using BenchServer;
using H2Middleware;
using H2Middleware.Scheduling;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

// One app, five HTTP/2 endpoints with the same routes: three cleartext (prior knowledge) ones — Kestrel's own HTTP/2
// on the first port, H2Middleware on the second, and H2Middleware with the RFC 7540 priority tree on the third (for
// the weights scenario) — and two over TLS with ALPN h2, Kestrel's on the fourth port and ours on the fifth. Used by
// build/bench.sh; with --memory, by build/bench-memory.sh.
bool memoryMode = args.Contains("--memory");
string[] ports = [.. args.Where(arg => arg != "--memory")];
int kestrelPort = ports.Length > 0 ? int.Parse(ports[0]) : 6080;
int enginePort = ports.Length > 1 ? int.Parse(ports[1]) : 6081;
int treePort = ports.Length > 2 ? int.Parse(ports[2]) : 6082;
int kestrelTlsPort = ports.Length > 3 ? int.Parse(ports[3]) : kestrelPort + 3;
int engineTlsPort = ports.Length > 4 ? int.Parse(ports[4]) : kestrelPort + 4;
// Only when given: a raw TCP endpoint that reads and drops what it receives, the floor under any HTTP/2 engine's
// uploads on this transport (build/bench-transport-floor.sh).
int? drainPort = ports.Length > 5 ? int.Parse(ports[5]) : null;

// The memory benchmark keeps ten thousand connections idle while it opens them and measures: neither engine may close
// one for idleness meanwhile (both default to 130 s).
TimeSpan keepAliveTimeout = memoryMode ? TimeSpan.FromMinutes(30) : TimeSpan.FromSeconds(130);

// The priority scenario opens a download and 200 small requests at once.
const int maxStreamsPerConnection = 256;

X509Certificate2 certificate = HelloH2.SelfSignedCertificate.Create();

var builder = WebApplication.CreateSlimBuilder();
builder.Services.AddHttp2ServeLoop();
// Without the catch-all route for unknown services, the routes of the other scenarios match as they did before gRPC.
builder.Services.AddGrpc(grpc => grpc.IgnoreUnknownServices = true);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Limits.MaxRequestBodySize = null;
    kestrel.Limits.Http2.MaxStreamsPerConnection = maxStreamsPerConnection;
    kestrel.Limits.KeepAliveTimeout = keepAliveTimeout;
    kestrel.Listen(IPAddress.Loopback, kestrelPort, listen => listen.Protocols = HttpProtocols.Http2);
    kestrel.Listen(IPAddress.Loopback, enginePort, listen =>
    {
        listen.Protocols = HttpProtocols.Http2;
        listen.UseHttp2ServeLoop(EngineOptions);
    });
    kestrel.Listen(IPAddress.Loopback, treePort, listen =>
    {
        listen.Protocols = HttpProtocols.Http2;
        listen.UseHttp2ServeLoop(options =>
        {
            EngineOptions(options);
            options.WriteSchedulerFactory = WriteSchedulers.Rfc7540PriorityTree;
        });
    });
    kestrel.Listen(IPAddress.Loopback, kestrelTlsPort, listen =>
    {
        listen.Protocols = HttpProtocols.Http2;
        listen.UseHttps(certificate);
    });
    kestrel.Listen(IPAddress.Loopback, engineTlsPort, listen =>
    {
        listen.Protocols = HttpProtocols.Http2;
        listen.UseHttps(certificate);
        listen.UseHttp2ServeLoop(EngineOptions);
    });
    if (drainPort is { } port)
    {
        kestrel.Listen(IPAddress.Loopback, port, listen => listen.Run(DrainAsync));
    }
});

var app = builder.Build();
byte[] hello = "Hello, world!"u8.ToArray();
byte[] block = new byte[64 * 1024];
int heldRequests = 0;
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

// The same count read the way most handlers read a body: Stream.ReadAsync into their own buffer.
app.MapPost("/echo-len-body", async (HttpContext context) =>
{
    long length = 0;
    byte[] buffer = new byte[64 * 1024];
    int read;
    while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
    {
        length += read;
    }

    await context.Response.WriteAsync(length.ToString());
});

app.MapGrpcService<BenchGreeter>();

// Bytes allocated by the whole process so far: read before and after a run to get allocations per request.
app.MapGet("/allocated", () => GC.GetTotalAllocatedBytes(precise: true).ToString());

// Methods the JIT has compiled so far, every tier: build/bench.sh warms a scenario until a run adds almost none.
app.MapGet("/jitted", () => System.Runtime.JitInfo.GetCompiledMethodCount().ToString());

// Memory held by the process: after two full blocking compacting collections (finalizers run between them, so what
// they kept alive goes too), the bytes of live managed objects (GC.GetTotalMemory: no fragmentation, no free space
// the GC keeps committed), the GC's heap size at that collection (live bytes plus fragmentation) and the process's
// resident set (VmRSS: managed heap, native memory, code), with the number of /hold handlers waiting.
app.MapGet("/memory", () =>
{
    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
    GC.WaitForPendingFinalizers();
    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
    long managed = GC.GetTotalMemory(forceFullCollection: false);
    long heapSize = GC.GetGCMemoryInfo(GCKind.FullBlocking).HeapSizeBytes;
    long rss = ResidentSetBytes();
    return $"managed={managed} heap={heapSize} rss={rss} held={Volatile.Read(ref heldRequests)}\n";
});

// A request whose handler waits until the client goes away: an active stream for the memory benchmark.
app.MapGet("/hold", async (HttpContext context) =>
{
    Interlocked.Increment(ref heldRequests);
    try
    {
        await Task.Delay(Timeout.Infinite, context.RequestAborted);
    }
    catch (OperationCanceledException)
    {
        // The client reset the stream or closed the connection: the wait is over.
    }
    finally
    {
        Interlocked.Decrement(ref heldRequests);
    }
});

app.Run();

void EngineOptions(Http2ServeLoopOptions options)
{
    options.MaxRequestBodySize = null;
    options.MaxStreamsPerConnection = maxStreamsPerConnection;
    options.KeepAliveTimeout = keepAliveTimeout;
}

static async Task DrainAsync(ConnectionContext connection)
{
    while (true)
    {
        var result = await connection.Transport.Input.ReadAsync();
        connection.Transport.Input.AdvanceTo(result.Buffer.End);
        if (result.IsCompleted)
        {
            return;
        }
    }
}

static long ResidentSetBytes()
{
    string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
    return line is null ? Environment.WorkingSet : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
}
