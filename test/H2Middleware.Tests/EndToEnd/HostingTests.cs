using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// How the engine attaches to a host: options from services, endpoints it cannot serve refused at set-up, and endpoints
/// without IP addresses.
/// </summary>
public class HostingTests
{
    [Fact]
    public async Task OptionsConfiguredInServicesApplyThenTheEndpointsOwn()
    {
        int seenLimit = 0;
        await using var host = await KestrelTestHost.StartAsync(
            app => app.MapGet("/", () => "ok"),
            configureServices: services => services.Configure<Http2ServeLoopOptions>(o =>
            {
                o.MaxStreamsPerConnection = 7;
                o.KeepAliveTimeout = TimeSpan.FromSeconds(77);
            }),
            configureEngine: o => seenLimit = o.MaxStreamsPerConnection);

        Assert.Equal(7, seenLimit);
    }

    [Theory]
    [InlineData(Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.DelayCertificate, true)]
    [InlineData(Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.AllowCertificate, false)]
    [InlineData(Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate, false)]
    public async Task ADelayedClientCertificateIsRefusedWhenTheEndpointIsSetUp(
        Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode mode, bool refused)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        Exception? error = null;
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.UseHttps(https =>
            {
                https.ServerCertificate = HelloH2.SelfSignedCertificate.Create();
                https.ClientCertificateMode = mode;
            });
            error = Record.Exception(() => listen.UseHttp2ServeLoop());
        }));
        await using WebApplication app = builder.Build();
        app.MapGet("/", () => "ok");
        await app.StartAsync();
        await app.StopAsync();

        if (refused)
        {
            Assert.IsType<InvalidOperationException>(error);
            Assert.Contains("DelayCertificate", error.Message);
            Assert.Contains("RFC 9113", error.Message);
        }
        else
        {
            Assert.Null(error);
        }
    }

    /// <summary>
    /// On a Unix socket the connection has no addresses: a request sees none, even when a middleware set them for the
    /// previous request served by the same pooled stream object (ForwardedHeaders does, from X-Forwarded-For).
    /// </summary>
    [Fact]
    public async Task OnAUnixSocketNoRequestSeesTheAddressesAMiddlewareSetForAnEarlierOne()
    {
        string socketPath = Path.Combine(Path.GetTempPath(), $"h2middleware-{Guid.NewGuid():N}.sock");
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenUnixSocket(socketPath, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            listen.UseHttp2ServeLoop();
        }));
        await using WebApplication app = builder.Build();
        app.Run(context =>
        {
            string seen = $"{context.Connection.RemoteIpAddress?.ToString() ?? "none"}:{context.Connection.RemotePort}";
            context.Connection.RemoteIpAddress = IPAddress.Parse("203.0.113.7");
            context.Connection.RemotePort = 4242;
            return context.Response.WriteAsync(seen);
        });
        await app.StartAsync();
        try
        {
            using var client = new HttpClient(new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            })
            {
                BaseAddress = new Uri("http://localhost"),
                DefaultRequestVersion = HttpVersion.Version20,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };

            for (int request = 0; request < 3; request++)
            {
                Assert.Equal("none:0", await client.GetStringAsync("/"));
            }
        }
        finally
        {
            await app.StopAsync();
            File.Delete(socketPath);
        }
    }
}
