using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>Independent HTTP/2 clients (curl, nghttp, Node's http2) against the engine behind Kestrel.</summary>
public class ExternalClientTests
{
    private static void MapEndpoints(WebApplication app)
    {
        app.MapGet("/hello", (HttpContext context) => KestrelTestHost.ServedByEngine(context) ? "hello from the engine" : "hello from Kestrel");
        app.MapPost("/sha256", async (HttpContext context) =>
        {
            byte[] hash = await SHA256.HashDataAsync(context.Request.Body);
            return Convert.ToHexString(hash);
        });
        app.MapGet("/bytes/{count:int}", (int count) => Results.Bytes(Enumerable.Range(0, count).Select(i => (byte)(i % 251)).ToArray()));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CurlGetsTheBodyOverHttp2(bool tls)
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints, tls);
        string[] args = tls
            ? ["-sS", "-k", "--http2", "-w", "\n%{http_version}", $"{host.BaseAddress}hello"]
            : ["-sS", "--http2-prior-knowledge", "-w", "\n%{http_version}", $"{host.BaseAddress}hello"];

        var (exit, stdout, stderr) = await ExternalProcess.RunAsync("curl", args);

        Assert.True(exit == 0, stderr);
        Assert.Equal("hello from the engine\n2", stdout);
    }

    [Fact]
    public async Task CurlPostsABody()
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints);
        byte[] payload = RandomNumberGenerator.GetBytes(300_000);
        string file = Path.GetTempFileName();
        await File.WriteAllBytesAsync(file, payload);
        try
        {
            var (exit, stdout, stderr) = await ExternalProcess.RunAsync("curl", ["-sS", "--http2-prior-knowledge", "--data-binary", "@" + file, $"{host.BaseAddress}sha256"]);

            Assert.True(exit == 0, stderr);
            Assert.Equal(Convert.ToHexString(SHA256.HashData(payload)), stdout);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task NghttpFetchesSeveralStreamsOnOneConnection()
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints);

        var (exit, stdout, stderr) = await ExternalProcess.RunAsync("nghttp", ["-n", "-s", $"{host.BaseAddress}hello", $"{host.BaseAddress}bytes/100000", $"{host.BaseAddress}hello"]);

        Assert.True(exit == 0, stderr + stdout);
        Assert.Contains("/hello", stdout);
        Assert.Contains("/bytes/100000", stdout);
        Assert.Contains("200", stdout);
    }

    [Fact]
    public async Task NghttpSeesTheRightBody()
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints, tls: true);

        var (exit, stdout, stderr) = await ExternalProcess.RunAsync("nghttp", [$"{host.BaseAddress}hello"]);

        Assert.True(exit == 0, stderr + stdout);
        Assert.Equal("hello from the engine", stdout);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task NodeHttp2ClientGetsTheBodies(bool tls)
    {
        await using var host = await KestrelTestHost.StartAsync(MapEndpoints, tls);
        const string script = """
            const http2 = require('http2');
            const session = http2.connect(process.argv[1], { rejectUnauthorized: false });
            session.on('error', e => { console.error(e); process.exit(2); });
            const get = path => new Promise((resolve, reject) => {
              const req = session.request({ ':path': path });
              let status = 0; const chunks = [];
              req.on('response', h => status = h[':status']);
              req.on('data', c => chunks.push(c));
              req.on('end', () => resolve(status + ' ' + Buffer.concat(chunks).length + ' ' + Buffer.concat(chunks).slice(0, 21).toString()));
              req.on('error', reject);
              req.end();
            });
            Promise.all([get('/hello'), get('/bytes/70000'), get('/hello')])
              .then(r => { console.log(r.join('|')); session.close(); })
              .catch(e => { console.error(e); process.exit(3); });
            """;

        var (exit, stdout, stderr) = await ExternalProcess.RunAsync("node", ["-e", script, host.BaseAddress.ToString().TrimEnd('/')]);

        Assert.True(exit == 0, stderr);
        string[] results = stdout.Trim().Split('|');
        Assert.Equal("200 21 hello from the engine", results[0]);
        Assert.StartsWith("200 70000 ", results[1]);
        Assert.Equal("200 21 hello from the engine", results[2]);
    }
}
