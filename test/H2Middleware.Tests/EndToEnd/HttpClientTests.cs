using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>The engine behind real Kestrel sockets, driven by .NET's HttpClient over HTTP/2 only.</summary>
public class HttpClientTests
{
    private static void MapEndpoints(WebApplication app)
    {
        app.MapGet("/hello", (HttpContext context) => KestrelTestHost.ServedByEngine(context) ? "hello from the engine" : "hello from Kestrel");
        app.MapPost("/echo", async (HttpContext context) =>
        {
            // Read the whole body first: HttpClient sends all of a request before it reads the response.
            var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body.GetBuffer().AsMemory(0, (int)body.Length));
        });
        app.MapGet("/bytes/{count:int}", async (HttpContext context, int count) =>
        {
            var chunk = new byte[64 * 1024];
            for (int i = 0; i < chunk.Length; i++)
            {
                chunk[i] = (byte)i;
            }

            context.Response.ContentLength = count;
            for (int sent = 0; sent < count; sent += chunk.Length)
            {
                await context.Response.Body.WriteAsync(chunk.AsMemory(0, Math.Min(chunk.Length, count - sent)));
            }
        });
        app.MapGet("/tls", (HttpContext context) =>
            $"{context.Request.IsHttps}|{context.Features.Get<Microsoft.AspNetCore.Connections.Features.ITlsHandshakeFeature>()?.Protocol}|{context.Connection.ClientCertificate is null}");
        app.MapGet("/connection-and-bytes", async (HttpContext context) =>
        {
            await Task.Delay(10);
            return $"{context.Connection.Id}|{new string('x', 20000)}";
        });
        app.MapGet("/trailers", async (HttpContext context) =>
        {
            context.Response.DeclareTrailer("x-trailer");
            await context.Response.WriteAsync("body");
            context.Response.AppendTrailer("x-trailer", "trailer-value");
        });
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GetIsServedByTheEngine(bool tls)
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints, tls);
        using HttpClient client = host.CreateHttp2Client();

        using HttpResponseMessage response = await client.GetAsync("/hello");

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hello from the engine", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TlsFeaturesOfTheConnectionReachTheHandler()
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints, tls: true);
        using HttpClient client = host.CreateHttp2Client();

        string[] tls = (await client.GetStringAsync("/tls")).Split('|');

        Assert.Equal("True", tls[0]);
        Assert.StartsWith("Tls", tls[1]);
        Assert.Equal("True", tls[2]);
    }

    [Fact]
    public async Task Http11StillWorksOnTheTlsEndpoint()
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints, tls: true);
        using HttpClient client = host.CreateHttp2Client();

        using var request = new HttpRequestMessage(HttpMethod.Get, "/hello") { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using HttpResponseMessage response = await client.SendAsync(request);

        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Equal("hello from Kestrel", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TenMebibytesGoBothWays(bool tls)
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints, tls);
        using HttpClient client = host.CreateHttp2Client();
        byte[] payload = RandomNumberGenerator.GetBytes(10 * 1024 * 1024);

        using HttpResponseMessage response = await client.PostAsync("/echo", new ByteArrayContent(payload));
        byte[] echoed = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(payload.Length, echoed.Length);
        Assert.True(payload.AsSpan().SequenceEqual(echoed));
    }

    /// <summary>
    /// A handler that examines the body without consuming it until it has all of it (as gRPC reads a message): one that
    /// fits in what a stream may buffer is read whole; a larger one cannot be, since the client may send no more until
    /// the handler consumes, and fails with 413 rather than waiting forever.
    /// </summary>
    [Theory]
    [InlineData(48 * 1024, HttpStatusCode.OK)]
    [InlineData(1024 * 1024, HttpStatusCode.RequestEntityTooLarge)]
    public async Task ABodyReadWholeBeforeAnyIsConsumedFitsInTheStreamsBufferOrFails(int length, HttpStatusCode expected)
    {
        await using var host = await KestrelTestHost.StartAsync(
            app => app.MapPost("/whole", async (HttpContext context) =>
            {
                while (true)
                {
                    System.IO.Pipelines.ReadResult read = await context.Request.BodyReader.ReadAsync();
                    if (read.IsCompleted)
                    {
                        context.Request.BodyReader.AdvanceTo(read.Buffer.End);
                        await context.Response.WriteAsync(read.Buffer.Length.ToString());
                        return;
                    }

                    context.Request.BodyReader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                }
            }),
            configureEngine: o =>
            {
                o.MaxRequestBufferSizePerStream = 64 * 1024;
                o.EnableAdaptiveReceiveWindows = false;
            });
        using HttpClient client = host.CreateHttp2Client();

        using HttpResponseMessage response = await client.PostAsync("/whole", new ByteArrayContent(new byte[length])).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task LargeDownloadArrivesWhole()
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints);
        using HttpClient client = host.CreateHttp2Client();

        byte[] body = await client.GetByteArrayAsync("/bytes/10485760");

        Assert.Equal(10 * 1024 * 1024, body.Length);
        Assert.Equal((byte)77, body[77]);
        Assert.Equal((byte)(65_600 % 65_536 % 256), body[65_600]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HundredConcurrentStreamsOnOneConnection(bool tls)
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints, tls, configureEngine: o => o.MaxStreamsPerConnection = 100);
        using HttpClient client = host.CreateHttp2Client();
        await client.GetStringAsync("/hello");

        string[] results = await Task.WhenAll(Enumerable.Range(0, 100).Select(async _ =>
        {
            using HttpResponseMessage response = await client.GetAsync("/connection-and-bytes");
            return await response.Content.ReadAsStringAsync();
        }));

        Assert.All(results, result => Assert.Equal(20000, result.Split('|')[1].Length));
        Assert.Single(results.Select(result => result.Split('|')[0]).Distinct());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ResponseTrailersReachTheClient(bool tls)
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints, tls);
        using HttpClient client = host.CreateHttp2Client();

        using HttpResponseMessage response = await client.GetAsync("/trailers");
        Assert.Equal("body", await response.Content.ReadAsStringAsync());

        Assert.True(response.TrailingHeaders.TryGetValues("x-trailer", out var values));
        Assert.Equal("trailer-value", Assert.Single(values));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ClientCancellationFiresRequestAborted(bool tls)
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await KestrelTestHost.StartAsync(app => app.MapGet("/wait", async (HttpContext context) =>
        {
            context.RequestAborted.Register(() => aborted.TrySetResult());
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { });
        }), tls);
        using HttpClient client = host.CreateHttp2Client();
        using var cancel = new CancellationTokenSource();

        Task<HttpResponseMessage> request = client.GetAsync("/wait", cancel.Token);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
