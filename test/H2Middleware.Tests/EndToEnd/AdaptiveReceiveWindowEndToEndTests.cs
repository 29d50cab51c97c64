using System.Net;
using System.Security.Cryptography;
using H2Middleware.Frames;
using LatencyUpload;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// HttpClient uploads to the engine through a proxy that adds 25 ms each way (build/bench-latency.sh's path): with
/// adaptive receive windows the connection's window grows past its initial size, with fixed windows it never does, and
/// the body arrives intact either way. How fast is for the benchmark, not for tests.
/// </summary>
public class AdaptiveReceiveWindowEndToEndTests
{
    private const int UploadLength = 16 * LargePayload.MiB;

    private static readonly TimeSpan OneWayDelay = TimeSpan.FromMilliseconds(25);

    // Typed as a Func so that it maps as a route handler (whose string is written), not as a RequestDelegate.
    private static void MapUpload(WebApplication app) => app.MapPost("/upload", (Func<HttpContext, Task<string>>)RequestBodyDigest.ReadAsync);

    /// <summary>Uploads through the delaying proxy; returns the largest connection window the client was given.</summary>
    private static async Task<long> UploadThroughALongPathAsync(bool adaptive)
    {
        await using KestrelTestHost host = await KestrelTestHost.StartAsync(
            MapUpload,
            configureEngine: options =>
            {
                options.MaxRequestBodySize = null;
                options.EnableAdaptiveReceiveWindows = adaptive;
            });
        var observer = new ClientWindowObserver();
        await using var proxy = new DelayingProxy(new IPEndPoint(IPAddress.Loopback, host.Port), OneWayDelay, observer.Observe);
        using var client = new HttpClient(new SocketsHttpHandler())
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        byte[] upload = LargePayload.Create(UploadLength, seed: 7);
        var content = new CountingContent(upload);

        await HangGuard.RunAsync(
            async cancel =>
            {
                using HttpResponseMessage response = await client.PostAsync(new Uri($"http://127.0.0.1:{proxy.Port}/upload"), content, cancel);
                string[] answer = (await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync(cancel)).Split('|');

                Assert.Equal(upload.Length.ToString(), answer[0]);
                Assert.Equal(LargePayload.Sha256Hex(upload), answer[1]);
            },
            () => content.Progress,
            TimeSpan.FromSeconds(60));
        return observer.LargestConnectionWindow;
    }

    [Fact]
    public async Task WithAdaptiveWindowsTheConnectionWindowGrowsPastItsInitialSize()
    {
        long largest = await UploadThroughALongPathAsync(adaptive: true);

        Assert.True(largest > new Http2ServeLoopOptions().InitialConnectionWindowSize, $"the largest connection window was {largest:N0} bytes");
    }

    [Fact]
    public async Task WithFixedWindowsTheConnectionWindowNeverExceedsItsInitialSize()
    {
        long largest = await UploadThroughALongPathAsync(adaptive: false);

        // Less when the client has sent DATA by the time the server's first WINDOW_UPDATE reaches it.
        Assert.InRange(largest, Http2Limits.DefaultInitialWindowSize, new Http2ServeLoopOptions().InitialConnectionWindowSize);
    }
}
