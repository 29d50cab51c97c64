using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Tests.Fuzzing;

/// <summary>
/// The application the fuzzed server runs: the request path picks what the handler does, so one session can mix
/// handlers that echo, stream large bodies, throw, ignore the body, reset or abort. Every wait honours
/// RequestAborted: a handler that ignored it would hold the connection open by design, which is not an engine bug.
/// </summary>
internal static class FuzzApplication
{
    public static readonly string[] Paths =
    [
        "/hello", "/echo", "/large", "/large-one", "/throw", "/throw-late", "/ignore", "/read-some", "/reset", "/reset-late",
        "/trailers", "/abort", "/bad-header", "/slow", "/complete-early", "/body-writer", "/status-204", "/slow-echo", "/large-trailers",
    ];

    private static readonly byte[] Chunk = Enumerable.Range(0, 8 * 1024).Select(i => (byte)i).ToArray();
    private static readonly byte[] Big = Enumerable.Range(0, 100 * 1024).Select(i => (byte)(i * 7)).ToArray();

    public static async Task HandleAsync(HttpContext context)
    {
        CancellationToken aborted = context.RequestAborted;
        switch (context.Request.Path.Value)
        {
            case "/hello":
                await context.Response.WriteAsync("hello", aborted);
                break;
            case "/echo":
                await context.Request.Body.CopyToAsync(context.Response.Body, aborted);
                break;
            case "/large":
                // More than the default windows: the handler waits for WINDOW_UPDATEs that may never come.
                for (int i = 0; i < 24; i++)
                {
                    await context.Response.Body.WriteAsync(Chunk, aborted);
                }

                break;
            case "/large-one":
                // One write above the direct-write threshold.
                await context.Response.Body.WriteAsync(Big, aborted);
                break;
            case "/throw":
                throw new InvalidOperationException("fuzz handler throws before responding");
            case "/throw-late":
                await context.Response.WriteAsync("partial", aborted);
                await context.Response.Body.FlushAsync(aborted);
                throw new InvalidOperationException("fuzz handler throws after responding");
            case "/ignore":
                await context.Response.WriteAsync("ignored the body", aborted);
                break;
            case "/read-some":
                _ = await context.Request.Body.ReadAsync(new byte[10], aborted);
                await context.Response.WriteAsync("read some", aborted);
                break;
            case "/reset":
                context.Features.Get<IHttpResetFeature>()!.Reset(8);
                break;
            case "/reset-late":
                await context.Response.WriteAsync("then reset", aborted);
                await context.Response.Body.FlushAsync(aborted);
                context.Features.Get<IHttpResetFeature>()!.Reset(2);
                break;
            case "/trailers":
                await context.Request.Body.CopyToAsync(Stream.Null, aborted);
                await context.Response.WriteAsync("with trailers", aborted);
                context.Response.AppendTrailer("x-fuzz-trailer", "done");
                break;
            case "/abort":
                context.Abort();
                break;
            case "/bad-header":
                context.Response.Headers["x-bad"] = "line\r\nbreak";
                await context.Response.WriteAsync("bad header", aborted);
                break;
            case "/slow":
                await Task.Delay(15, aborted);
                await context.Response.WriteAsync("slow", aborted);
                break;
            case "/complete-early":
                await context.Response.WriteAsync("complete", aborted);
                await context.Response.CompleteAsync();
                await context.Request.Body.CopyToAsync(Stream.Null, aborted);
                break;
            case "/body-writer":
                Memory<byte> memory = context.Response.BodyWriter.GetMemory(20_000);
                Big.AsMemory(0, 20_000).CopyTo(memory);
                context.Response.BodyWriter.Advance(20_000);
                await context.Response.BodyWriter.FlushAsync(aborted);
                break;
            case "/status-204":
                context.Response.StatusCode = 204;
                break;
            case "/slow-echo":
                // Reads in small pieces with pauses: the request window comes back a little at a time.
                var buffer = new byte[700];
                int read;
                while ((read = await context.Request.Body.ReadAsync(buffer, aborted)) > 0)
                {
                    await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), aborted);
                    await Task.Delay(1, aborted);
                }

                break;
            case "/large-trailers":
                context.Response.DeclareTrailer("x-fuzz-trailer");
                await context.Response.Body.WriteAsync(Big, aborted);
                context.Response.AppendTrailer("x-fuzz-trailer", "after a large body");
                break;
            default:
                await context.Response.WriteAsync("ok", aborted);
                break;
        }
    }
}
