using System.Net;
using System.Text.Json;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// Independent clients over Kestrel sockets: a zero-window client cannot make the engine buffer every response, and
/// downloads a browser-like client cancels release handlers that ignore RequestAborted.
/// </summary>
public class ResponseMemoryEndToEndTests
{
    private const int StreamCount = 100;
    private const int OneMiB = 1024 * 1024;
    private static readonly byte[] SharedBody = Enumerable.Range(0, OneMiB).Select(i => (byte)i).ToArray();

    /// <summary>Gives Kestrel's transport, and so the engine, a memory pool whose rentals are counted.</summary>
    private sealed class CountingPoolFactory : IMemoryPoolFactory<byte>
    {
        public CountingMemoryPool Pool { get; } = new();

        public System.Buffers.MemoryPool<byte> Create(MemoryPoolOptions? options = null) => Pool;
    }

    [Fact]
    public async Task AZeroWindowNodeClientCannotMakeTheEngineBufferEveryResponse()
    {
        var pools = new CountingPoolFactory();
        int completed = 0;
        await using var host = await KestrelTestHost.StartAsync(
            app =>
            {
                app.MapGet("/mib", async context =>
                {
                    await context.Response.Body.WriteAsync(SharedBody);
                    Interlocked.Increment(ref completed);
                });
                app.MapGet("/pool", () => new { outstanding = pools.Pool.OutstandingBytes, peak = pools.Pool.PeakBytes });
            },
            // The minimum response data rate would end this deliberate zero-window hold after its grace period.
            configureEngine: o => o.MinResponseDataRate = null,
            configureServices: services => services.AddSingleton<IMemoryPoolFactory<byte>>(pools));
        const string script = """
            const http2 = require('http2');
            const url = process.argv[1], count = Number(process.argv[2]);
            const fail = e => { console.error(e); process.exit(2); };
            const held = http2.connect(url, { settings: { initialWindowSize: 0 } });
            held.on('error', fail);
            const lengths = []; let responses = 0; let ended = 0;
            for (let i = 0; i < count; i++) {
              const req = held.request({ ':path': '/mib' });
              let length = 0;
              req.on('response', () => { if (++responses === count) measure(); });
              req.on('data', c => length += c.length);
              req.on('end', () => { lengths.push(length); if (++ended === count) done(); });
              req.on('error', fail);
              req.end();
            }
            let pool;
            function measure() {
              setTimeout(() => {
                const probe = http2.connect(url);
                probe.on('error', fail);
                const req = probe.request({ ':path': '/pool' });
                let body = '';
                req.on('data', c => body += c);
                req.on('end', () => {
                  pool = JSON.parse(body); probe.close();
                  held.setLocalWindowSize(count * 1048576 * 2);
                  held.settings({ initialWindowSize: 1048576 });
                });
                req.end();
              }, 300);
            }
            function done() { console.log(JSON.stringify({ pool, lengths })); held.close(); }
            """;

        var (exit, stdout, stderr) = await ExternalProcess.RunAsync("node", ["-e", script, host.BaseAddress.ToString().TrimEnd('/'), StreamCount.ToString()]);

        Assert.True(exit == 0, stderr);
        using JsonDocument result = JsonDocument.Parse(stdout);
        long peak = result.RootElement.GetProperty("pool").GetProperty("peak").GetInt64();
        Assert.True(peak > 0, "the counting pool was not used by the transport");
        Assert.True(peak <= 16 * OneMiB, $"the server's pool held {peak:N0} bytes while {StreamCount} responses waited for window");
        int[] lengths = result.RootElement.GetProperty("lengths").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(StreamCount, lengths.Length);
        Assert.All(lengths, length => Assert.Equal(OneMiB, length));
        Assert.Equal(StreamCount, Volatile.Read(ref completed));
    }

    [Fact]
    public async Task DownloadsCancelledByHttpClientReleaseHandlersThatIgnoreRequestAborted()
    {
        int started = 0;
        int returned = 0;
        byte[] chunk = new byte[32 * 1024];
        await using var host = await KestrelTestHost.StartAsync(app => app.MapGet("/download", async (HttpContext context) =>
        {
            Interlocked.Increment(ref started);
            try
            {
                // Writes on regardless of RequestAborted; bounded so that a broken engine cannot spin forever.
                for (long written = 0; written < 256L * OneMiB; written += chunk.Length)
                {
                    await context.Response.Body.WriteAsync(chunk);
                }
            }
            finally
            {
                Interlocked.Increment(ref returned);
            }
        }));
        using HttpClient client = host.CreateHttp2Client();

        async Task DownloadThenCancelAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/download") { Version = HttpVersion.Version20 };
            using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await using Stream body = await response.Content.ReadAsStreamAsync();
            byte[] buffer = new byte[64 * 1024];
            int read = 0;
            while (read < buffer.Length)
            {
                int n = await body.ReadAsync(buffer.AsMemory(read));
                Assert.True(n > 0, "the download ended early");
                read += n;
            }
        }

        await Task.WhenAll(Enumerable.Range(0, StreamCount).Select(_ => DownloadThenCancelAsync())).WaitAsync(TimeSpan.FromSeconds(30));

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (Volatile.Read(ref returned) < StreamCount && !deadline.IsCancellationRequested)
        {
            await Task.Delay(20);
        }

        Assert.Equal(StreamCount, Volatile.Read(ref started));
        Assert.Equal(StreamCount, Volatile.Read(ref returned));
    }
}
