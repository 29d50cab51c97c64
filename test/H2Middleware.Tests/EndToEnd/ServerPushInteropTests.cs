using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// Server push against clients that still accept it, behind a real Kestrel: nghttp (nghttp2's client) and Node's http2
/// client. Each decodes the PUSH_PROMISE with its own HPACK decoder and takes the pushed response on its own stream.
/// </summary>
public class ServerPushInteropTests
{
    private const string StyleSheetBody = "body{color:red}";

    /// <summary>The page pushes its style sheet when it can and says whether it could; the style sheet is a route of its own.</summary>
    private static void MapSite(WebApplication app)
    {
        app.MapGet("/", async (HttpContext context) =>
        {
            IHttp2ServerPushFeature push = context.Features.Get<IHttp2ServerPushFeature>()!;
            bool supported = push.IsPushSupported;
            if (supported)
            {
                await push.PushAsync("/style.css");
            }

            await context.Response.WriteAsync($"page pushed={supported}");
        });
        app.MapGet("/style.css", () => Results.Text(StyleSheetBody, "text/css"));
    }

    private static void PushOn(Http2ServeLoopOptions options) => options.EnableServerPush = true;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task NghttpReceivesThePromiseAndThePushedResponse(bool tls)
    {
        await using var host = await KestrelTestHost.StartAsync(MapSite, tls, PushOn);

        var (exit, stdout, stderr) = await ExternalProcess.RunAsync("nghttp", ["-v", host.BaseAddress.ToString()]);

        Assert.True(exit == 0, stderr + stdout);
        Assert.Contains("recv PUSH_PROMISE frame", stdout);
        Assert.Contains("promised_stream_id=2", stdout);
        Assert.Contains(":path: /style.css", stdout);
        Assert.Contains("recv (stream_id=2) :status: 200", stdout);
        Assert.Contains("recv (stream_id=2) content-type: text/css", stdout);
        Assert.Contains("page pushed=True", stdout);
        // The promise precedes the page's body, which refers to the pushed resource.
        Assert.True(stdout.IndexOf("recv PUSH_PROMISE frame", StringComparison.Ordinal) < stdout.IndexOf("recv DATA frame", StringComparison.Ordinal), stdout);
    }

    [Fact]
    public async Task NghttpWithPushOffReceivesNoPromise()
    {
        await using var host = await KestrelTestHost.StartAsync(MapSite, configureEngine: PushOn);

        var (exit, stdout, stderr) = await ExternalProcess.RunAsync("nghttp", ["-v", "--no-push", host.BaseAddress.ToString()]);

        Assert.True(exit == 0, stderr + stdout);
        Assert.Contains("page pushed=False", stdout);
        Assert.DoesNotContain("PUSH_PROMISE", stdout);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task NodeHttp2ClientReceivesThePushedStream(bool tls, bool enablePush)
    {
        await using var host = await KestrelTestHost.StartAsync(MapSite, tls, PushOn);
        const string script = """
            const http2 = require('http2');
            const enablePush = process.argv[2] === 'true';
            const session = http2.connect(process.argv[1], { rejectUnauthorized: false, settings: { enablePush } });
            session.on('error', e => { console.error(e); process.exit(2); });
            const read = (stream, describe) => new Promise((resolve, reject) => {
              const chunks = [];
              stream.on('data', c => chunks.push(c));
              stream.on('end', () => resolve(describe(Buffer.concat(chunks).toString())));
              stream.on('error', reject);
            });
            const pushes = [];
            session.on('stream', (stream, request) => {
              let status = 0;
              stream.on('push', h => status = h[':status']);
              pushes.push(read(stream, body => `${request[':method']} ${request[':scheme']} ${request[':path']} ${status} ${body}`));
            });
            const req = session.request({ ':path': '/' });
            req.end();
            read(req, body => body)
              .then(page => Promise.all(pushes).then(pushed => { console.log([page, ...pushed].join('|')); session.close(); }))
              .catch(e => { console.error(e); process.exit(3); });
            """;

        var (exit, stdout, stderr) = await ExternalProcess.RunAsync(
            "node", ["-e", script, host.BaseAddress.ToString().TrimEnd('/'), enablePush ? "true" : "false"]);

        Assert.True(exit == 0, stderr);
        string scheme = tls ? "https" : "http";
        Assert.Equal(
            enablePush ? $"page pushed=True|GET {scheme} /style.css 200 {StyleSheetBody}" : "page pushed=False",
            stdout.Trim());
    }
}
