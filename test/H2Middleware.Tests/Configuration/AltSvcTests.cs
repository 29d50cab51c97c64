using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using H2Middleware.Tests.EndToEnd;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace H2Middleware.Tests.Configuration;

/// <summary>
/// On an endpoint that also serves HTTP/3, the engine's HTTP/2 responses carry the <c>Alt-Svc</c> header Kestrel puts on
/// its own: checked byte for byte against Kestrel's HTTP/1.1 response from the same endpoint. This machine has no QUIC (libmsquic), so a
/// registered QUIC transport is faked: Kestrel decides on the header from its registration alone, and does not bind
/// HTTP/3 on a dynamic port anyway.
/// </summary>
public class AltSvcTests
{
    private static void MapResponses(WebApplication app)
    {
        app.MapGet("/", (HttpContext context) => KestrelTestHost.ServedByEngine(context) ? "engine" : "kestrel");
        app.MapGet("/own", (HttpContext context) =>
        {
            context.Response.Headers.AltSvc = "clear";
            return "own";
        });
    }

    private static Task<KestrelTestHost> StartAsync(bool quic, HttpProtocols protocols = HttpProtocols.Http1AndHttp2AndHttp3, bool disableAltSvc = false) =>
        KestrelTestHost.StartAsync(
            MapResponses,
            tls: true,
            configureServices: services =>
            {
                services.AddHttp2ServeLoop();
                if (quic)
                {
                    services.AddSingleton<IMultiplexedConnectionListenerFactory, UnavailableQuicTransport>();
                }
            },
            protocols: protocols,
            afterEngine: listen => listen.DisableAltSvcHeader = disableAltSvc);

    /// <summary>The Alt-Svc field as sent: Kestrel's on HTTP/1.1, the engine's on HTTP/2 (HttpClient reparses this header).</summary>
    private static async Task<(string? Kestrel, string? Engine)> AltSvcAsync(KestrelTestHost host, string path)
    {
        IReadOnlyList<(string Name, string Value)> engine = await RawHttp2Probe.ResponseHeadersAsync(host.Port, path, tls: true);
        return (await Http11AltSvcAsync(host.Port, path), engine.SingleOrDefault(f => f.Name == "alt-svc").Value);
    }

    private static async Task<string?> Http11AltSvcAsync(int port, string path)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(client.GetStream(), leaveInnerStreamOpen: false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", ApplicationProtocols = [SslApplicationProtocol.Http11] });
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
        string response = await new StreamReader(tls, Encoding.ASCII).ReadToEndAsync();
        return response.Split("\r\n").FirstOrDefault(line => line.StartsWith("Alt-Svc: ", StringComparison.OrdinalIgnoreCase))?["Alt-Svc: ".Length..];
    }

    [Fact]
    public async Task TheEngineAdvertisesHttp3ExactlyAsKestrelDoes()
    {
        await using var host = await StartAsync(quic: true);

        (string? kestrel, string? engine) = await AltSvcAsync(host, "/");

        Assert.True(await RawHttp2Probe.ServedByEngineAsync(host.Port, tls: true));
        Assert.Equal($"h3=\":{host.Port}\"; ma=86400", kestrel);
        Assert.Equal(kestrel, engine);
    }

    [Fact]
    public async Task AHeaderTheApplicationSetIsKeptAsKestrelKeepsIt()
    {
        await using var host = await StartAsync(quic: true);

        Assert.Equal(("clear", "clear"), await AltSvcAsync(host, "/own"));
    }

    [Theory]
    [InlineData(false, HttpProtocols.Http1AndHttp2AndHttp3, false)]
    [InlineData(true, HttpProtocols.Http1AndHttp2AndHttp3, true)]
    [InlineData(true, HttpProtocols.Http1AndHttp2, false)]
    public async Task WhereKestrelAdvertisesNothingNeitherDoesTheEngine(bool quic, HttpProtocols protocols, bool disableAltSvc)
    {
        await using var host = await StartAsync(quic, protocols, disableAltSvc);

        Assert.Equal((null, null), await AltSvcAsync(host, "/"));
    }

    /// <summary>Stands for the QUIC transport a platform with QUIC registers; never asked to bind here (dynamic ports).</summary>
    private sealed class UnavailableQuicTransport : IMultiplexedConnectionListenerFactory
    {
        public ValueTask<IMultiplexedConnectionListener> BindAsync(EndPoint endpoint, IFeatureCollection? features = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException("No QUIC on this machine.");
    }
}
