using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PuppeteerSharp;

namespace H2Middleware.Tests.EndToEnd.Browser;

/// <summary>A browser is heavy on a 2-core machine: its test runs alone, after the parallel ones.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrowserCollection
{
    public const string Name = "Browser";
}

/// <summary>
/// A real browser (Debian's Chromium, headless, driven by PuppeteerSharp) against Kestrel with our engine over TLS:
/// the HTTP/2 a browser actually speaks (its SETTINGS, window sizes, priorities, HPACK use, many streams at once),
/// which no test client imitates. Chromium trusts only the test certificate's key, so the certificate checks stay on.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class BrowserTests
{
    private const string ChromiumPath = "/usr/bin/chromium";
    private static readonly TimeSpan LaunchTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan PageTimeout = TimeSpan.FromSeconds(30);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task ChromiumLoadsAPageOverHttp2ThroughTheEngine()
    {
        using X509Certificate2 certificate = HelloH2.SelfSignedCertificate.Create();
        var site = new BrowserTestSite();
        WebApplication app = await StartHostAsync(certificate, site);
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            PageResults results = await RunPageAsync(new Uri($"https://127.0.0.1:{address.Port}/"), certificate);

            Assert.Equal("h2", results.Navigation);
            Assert.Equal(3 * BrowserTestSite.ResourcesPerKind, results.Parallel);
            Assert.Equal(BrowserTestSite.DownloadLength, results.Download.Length);
            Assert.Equal(site.DownloadSha256, results.Download.Sha256);
            Assert.Equal(BrowserTestSite.UploadLength, results.Upload.SentLength);
            Assert.Equal(new UploadReceipt(results.Upload.SentLength, results.Upload.SentSha256), results.Upload.Received);
            Assert.Equal(new WebSocketResult(BrowserTestSite.WebSocketMessage, 1000), results.WebSocket);

            Assert.Equal(3 * BrowserTestSite.ResourcesPerKind + 2, results.Resources.Length);
            Assert.All(results.Resources, resource => Assert.Equal("h2", resource.Protocol));

            ServedRequest[] served = [.. site.Requests];
            Assert.Superset(ExpectedPaths(), served.Select(request => request.Path).ToHashSet());
            Assert.All(served, request => Assert.Equal("HTTP/2", request.Protocol));
            Assert.All(served, request => Assert.True(request.ServedByEngine, $"{request.Path} was not served by the engine"));
            Assert.Single(served.Select(request => request.ConnectionId).Distinct());
            Assert.True(site.MaxInFlight > 1, "the browser's requests never overlapped on the connection");

            // The WebSocket's handshake was an extended CONNECT (RFC 8441) on the page's own HTTP/2 connection.
            ServedRequest webSocket = Assert.Single(served, request => request.Path == "/ws");
            Assert.True(webSocket.ExtendedConnect, "the WebSocket did not arrive as an extended CONNECT");
        }
        finally
        {
            using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await app.StopAsync(stopTimeout.Token);
            await app.DisposeAsync();
        }
    }

    private static HashSet<string> ExpectedPaths()
    {
        var paths = new HashSet<string> { "/", "/download", "/upload", "/ws" };
        for (int i = 0; i < BrowserTestSite.ResourcesPerKind; i++)
        {
            paths.UnionWith([$"/res/script/{i}", $"/res/image/{i}", $"/res/text/{i}"]);
        }

        return paths;
    }

    /// <summary>Kestrel on 127.0.0.1 with TLS; ALPN offers h2 and http/1.1, as a production endpoint would.</summary>
    private static async Task<WebApplication> StartHostAsync(X509Certificate2 certificate, BrowserTestSite site)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddHttp2ServeLoop();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            listen.UseHttps(certificate);
            listen.UseHttp2ServeLoop();
        }));
        WebApplication app = builder.Build();
        site.Map(app);
        await app.StartAsync();
        return app;
    }

    /// <summary>Opens the page in a fresh headless Chromium and returns what its checks found; the browser is closed on every path.</summary>
    private static async Task<PageResults> RunPageAsync(Uri page, X509Certificate2 certificate)
    {
        var options = new LaunchOptions
        {
            ExecutablePath = ChromiumPath,
            HeadlessMode = HeadlessMode.True,
            Timeout = (int)LaunchTimeout.TotalMilliseconds,
            ProtocolTimeout = (int)PageTimeout.TotalMilliseconds,
            Args =
            [
                // Chromium's sandbox refuses to run as root, which is how CI runs.
                "--no-sandbox",
                "--ignore-certificate-errors-spki-list=" + SpkiSha256(certificate),
            ],
        };

        await using IBrowser browser = await Puppeteer.LaunchAsync(options);
        await using IPage tab = await browser.NewPageAsync();
        IResponse response = await tab.GoToAsync(page.ToString(), new NavigationOptions { Timeout = (int)PageTimeout.TotalMilliseconds });
        Assert.Equal(HttpStatusCode.OK, response.Status);
        string json = await tab.EvaluateFunctionAsync<string>("async () => JSON.stringify(await window.results)").WaitAsync(PageTimeout);
        return JsonSerializer.Deserialize<PageResults>(json, Json) ?? throw new InvalidDataException("the page published no results");
    }

    /// <summary>The form Chromium's --ignore-certificate-errors-spki-list takes: base64 of SHA-256 over the SubjectPublicKeyInfo.</summary>
    private static string SpkiSha256(X509Certificate2 certificate) =>
        Convert.ToBase64String(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));

    private sealed record PageResults(string Navigation, int Parallel, DownloadResult Download, UploadResult Upload, WebSocketResult WebSocket, ResourceEntry[] Resources);

    private sealed record WebSocketResult(string Text, int CloseCode);

    private sealed record DownloadResult(int Length, string Sha256);

    private sealed record UploadResult(int SentLength, string SentSha256, UploadReceipt Received);

    private sealed record ResourceEntry(string Name, string Protocol);
}
