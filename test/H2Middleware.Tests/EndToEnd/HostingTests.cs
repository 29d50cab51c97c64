using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>How the engine attaches to a host: options from services, and endpoints it cannot serve refused at set-up.</summary>
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
}
