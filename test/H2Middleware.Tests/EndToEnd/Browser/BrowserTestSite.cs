using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Tests.EndToEnd.Browser;

/// <summary>What the server saw of one request: enough to tell that it came as HTTP/2, through our engine, on which connection.</summary>
internal sealed record ServedRequest(string Path, string Protocol, bool ServedByEngine, string ConnectionId, bool ExtendedConnect);

/// <summary>What the upload endpoint read of the request body, returned to the page as JSON.</summary>
internal sealed record UploadReceipt(long Length, string Sha256);

/// <summary>
/// The site the browser visits: one page whose script runs named checks at once over the page's connection and
/// publishes their results as <c>window.results</c>, plus the endpoints those checks call. Every request is recorded
/// so that the test can check the server side too. A new check is one more entry in the page's <c>checks</c> object,
/// its endpoint here, and one more property of the test's result record.
/// </summary>
internal sealed class BrowserTestSite
{
    /// <summary>Small resources of each kind (script, image, fetch) the page loads at once.</summary>
    public const int ResourcesPerKind = 20;

    public const int DownloadLength = 8 * 1024 * 1024;

    public const int UploadLength = 4 * 1024 * 1024;

    public const string WebSocketMessage = "hello over HTTP/2";

    /// <summary>Each small resource is answered this late, so that a browser that multiplexes has many of them in flight at once.</summary>
    private static readonly TimeSpan SmallResourceDelay = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// The checks run concurrently, so the small resources, the download and the upload share the connection as a
    /// real page's would. Resource timing is read after all of them, so that every fetch has its entry.
    /// </summary>
    private static readonly string Page = $$"""
        <!doctype html>
        <html>
        <head>
        <meta charset="utf-8">
        <link rel="icon" href="data:,">
        <title>H2Middleware browser test</title>
        </head>
        <body>
        <script>
        'use strict';
        const hex = buffer => Array.from(new Uint8Array(buffer), b => b.toString(16).padStart(2, '0')).join('');
        const sha256 = async data => hex(await crypto.subtle.digest('SHA-256', data));
        const attach = (element, isRight) => new Promise((resolve, reject) => {
          element.onload = () => resolve(isRight());
          element.onerror = () => reject(new Error('could not load ' + element.src));
          document.body.append(element);
        });
        window.scriptsRun = new Set();

        const checks = {
          async parallel() {
            const loads = [];
            for (let i = 0; i < {{ResourcesPerKind}}; i++) {
              const script = document.createElement('script');
              script.src = `/res/script/${i}`;
              loads.push(attach(script, () => scriptsRun.has(i)));
              const image = new Image();
              image.src = `/res/image/${i}`;
              loads.push(attach(image, () => image.naturalWidth === i + 1));
              loads.push(fetch(`/res/text/${i}`).then(response => response.text()).then(text => text === `text ${i}`));
            }
            return (await Promise.all(loads)).filter(Boolean).length;
          },
          async download() {
            const body = await (await fetch('/download')).arrayBuffer();
            return { length: body.byteLength, sha256: await sha256(body) };
          },
          async websocket() {
            const socket = new WebSocket(`wss://${location.host}/ws`);
            await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = () => reject(new Error('WebSocket failed')); });
            const echoed = new Promise(resolve => { socket.onmessage = event => resolve(event.data); });
            socket.send('{{WebSocketMessage}}');
            const text = await echoed;
            const closed = new Promise(resolve => { socket.onclose = event => resolve(event.code); });
            socket.close(1000);
            return { text, closeCode: await closed };
          },
          async upload() {
            const body = new Uint8Array({{UploadLength}});
            for (let offset = 0; offset < body.length; offset += 65536) {
              crypto.getRandomValues(body.subarray(offset, offset + 65536));
            }
            const received = await (await fetch('/upload', { method: 'POST', body })).json();
            return { sentLength: body.length, sentSha256: await sha256(body), received };
          },
        };

        window.results = (async () => {
          const names = Object.keys(checks);
          const values = await Promise.all(names.map(name => checks[name]()));
          const results = Object.fromEntries(names.map((name, i) => [name, values[i]]));
          results.navigation = performance.getEntriesByType('navigation')[0].nextHopProtocol;
          results.resources = performance.getEntriesByType('resource').map(entry => ({ name: entry.name, protocol: entry.nextHopProtocol }));
          return results;
        })();
        </script>
        </body>
        </html>
        """;

    private readonly byte[] _download = CreateDownload();
    private int _inFlight;
    private int _maxInFlight;

    public ConcurrentQueue<ServedRequest> Requests { get; } = new();

    /// <summary>The most requests the application was handling at one time.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public string DownloadSha256 => Convert.ToHexStringLower(SHA256.HashData(_download));

    public void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            Requests.Enqueue(new ServedRequest(
                context.Request.Path,
                context.Request.Protocol,
                context.Features.Get<IHttpResponseFeature>()?.GetType().Assembly == typeof(Http2ServeLoopOptions).Assembly,
                context.Features.Get<IHttpConnectionFeature>()?.ConnectionId ?? "",
                context.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect ?? false));
            int inFlight = Interlocked.Increment(ref _inFlight);
            InterlockedMax(ref _maxInFlight, inFlight);
            try
            {
                await next(context);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        });

        app.UseWebSockets();
        app.Map("/ws", async (HttpContext context) =>
        {
            using WebSocket socket = await context.WebSockets.AcceptWebSocketAsync();
            byte[] buffer = new byte[1024];
            WebSocketReceiveResult message = await socket.ReceiveAsync(buffer, context.RequestAborted);
            await socket.SendAsync(buffer.AsMemory(0, message.Count), WebSocketMessageType.Text, endOfMessage: true, context.RequestAborted);
            WebSocketReceiveResult close = await socket.ReceiveAsync(buffer, context.RequestAborted);
            await socket.CloseAsync(close.CloseStatus ?? WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
        });
        app.MapGet("/", () => Results.Content(Page, "text/html; charset=utf-8"));
        app.MapGet("/res/script/{i:int}", async (int i, CancellationToken aborted) =>
        {
            await Task.Delay(SmallResourceDelay, aborted);
            return Results.Content($"scriptsRun.add({i});", "text/javascript");
        });
        app.MapGet("/res/image/{i:int}", async (int i, CancellationToken aborted) =>
        {
            await Task.Delay(SmallResourceDelay, aborted);
            return Results.Content($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{i + 1}\" height=\"1\"/>", "image/svg+xml");
        });
        app.MapGet("/res/text/{i:int}", async (int i, CancellationToken aborted) =>
        {
            await Task.Delay(SmallResourceDelay, aborted);
            return Results.Text($"text {i}");
        });
        app.MapGet("/download", () => Results.Bytes(_download, "application/octet-stream"));
        app.MapPost("/upload", async (HttpContext context) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = new byte[64 * 1024];
            long length = 0;
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                length += read;
            }

            return Results.Json(new UploadReceipt(length, Convert.ToHexStringLower(hash.GetHashAndReset())));
        });
    }

    private static byte[] CreateDownload()
    {
        byte[] body = new byte[DownloadLength];
        new Random(8441).NextBytes(body);
        return body;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current = Volatile.Read(ref target);
        while (value > current)
        {
            int seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
