using System.Net;
using H2Middleware.Frames;
using H2Middleware.Tests.EndToEnd;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace H2Middleware.Tests.Configuration;

/// <summary>
/// Endpoints that opt in from configuration alone (<c>Http2ServeLoop:Endpoints</c>, <c>Http2ServeLoop:AllEndpoints</c>):
/// <c>Kestrel:Endpoints</c> entries, h2c and TLS, and the host's addresses (<c>urls</c>). Each request says who served it,
/// and the server's SETTINGS tell the engine (SETTINGS_NO_RFC7540_PRIORITIES) from Kestrel's HTTP/2.
/// </summary>
public class ConfiguredEndpointTests
{
    [Fact]
    public async Task ANamedH2cEndpointIsServedByTheEngineWithTheConfiguredLimitsAndAnUnnamedOneIsLeftToKestrel()
    {
        await using var host = await ConfigOnlyHost.StartAsync(new()
        {
            ["Kestrel:Endpoints:Engine:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Kestrel:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Kestrel:Protocols"] = "Http2",
            ["Http2ServeLoop:Endpoints:0"] = "Engine",
            ["Http2ServeLoop:MaxStreamsPerConnection"] = "9",
        });
        Uri engine = host.Addresses[0], kestrel = host.Addresses[1];

        Assert.Equal("engine", await ConfigOnlyHost.WhoOverHttp2Async(engine));
        Assert.Equal("kestrel", await ConfigOnlyHost.WhoOverHttp11Async(engine));
        IReadOnlyDictionary<Http2SettingsParameter, uint> settings = await RawHttp2Probe.SettingsAsync(engine.Port);
        Assert.Equal(1u, settings[Http2SettingsParameter.NoRfc7540Priorities]);
        Assert.Equal(9u, settings[Http2SettingsParameter.MaxConcurrentStreams]);

        Assert.Equal("kestrel", await ConfigOnlyHost.WhoOverHttp2Async(kestrel));
        Assert.False(await RawHttp2Probe.ServedByEngineAsync(kestrel.Port));
    }

    [Fact]
    public async Task ANamedTlsEndpointWithItsCertificateFromConfigurationIsServedByTheEngineAfterKestrelsTls()
    {
        using var pfx = new PfxFile();
        await using var host = await ConfigOnlyHost.StartAsync(new()
        {
            ["Kestrel:Endpoints:Secure:Url"] = "https://127.0.0.1:0",
            ["Kestrel:Endpoints:Secure:Certificate:Path"] = pfx.Path,
            ["Kestrel:Endpoints:Secure:Certificate:Password"] = pfx.Password,
            ["Http2ServeLoop:Endpoints:0"] = "secure",
        });
        Uri secure = host.Address("https");

        Assert.Equal("engine", await ConfigOnlyHost.WhoOverHttp2Async(secure));
        Assert.True(await RawHttp2Probe.ServedByEngineAsync(secure.Port, tls: true));
        // HTTP/1.1 over the same TLS goes on to Kestrel: the endpoint has one TLS layer, before the engine.
        Assert.Equal("kestrel", await ConfigOnlyHost.WhoOverHttp11Async(secure));
    }

    [Fact]
    public async Task AllEndpointsTakesEveryKestrelEndpointButLeavesEndpointsDeclaredInCode()
    {
        using var pfx = new PfxFile();
        await using var host = await ConfigOnlyHost.StartAsync(
            new()
            {
                ["Kestrel:Endpoints:Plain:Url"] = "http://127.0.0.1:0",
                ["Kestrel:Endpoints:Secure:Url"] = "https://127.0.0.1:0",
                ["Kestrel:Certificates:Default:Path"] = pfx.Path,
                ["Kestrel:Certificates:Default:Password"] = pfx.Password,
                ["Http2ServeLoop:AllEndpoints"] = "true",
            },
            builder => builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2)));
        // Kestrel binds the endpoints declared in code before the configured ones.
        Uri code = host.Addresses[0];
        Uri plain = host.Addresses.Single(a => a.Scheme == "http" && a != code);

        Assert.Equal("engine", await ConfigOnlyHost.WhoOverHttp2Async(plain));
        Assert.Equal("engine", await ConfigOnlyHost.WhoOverHttp2Async(host.Address("https")));
        Assert.Equal("kestrel", await ConfigOnlyHost.WhoOverHttp2Async(code));
        Assert.False(await RawHttp2Probe.ServedByEngineAsync(code.Port));
    }

    [Fact]
    public async Task AllEndpointsTakesTheHostsHttpAndHttpsAddressesAndKeepsTheApplicationsEndpointDefaults()
    {
        using var pfx = new PfxFile();
        int defaultsApplied = 0;
        await using var host = await ConfigOnlyHost.StartAsync(
            new()
            {
                ["urls"] = "http://127.0.0.1:0;https://127.0.0.1:0",
                ["Kestrel:Certificates:Default:Path"] = pfx.Path,
                ["Kestrel:Certificates:Default:Password"] = pfx.Password,
                ["Http2ServeLoop:AllEndpoints"] = "true",
            },
            builder => builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureEndpointDefaults(_ => Interlocked.Increment(ref defaultsApplied))));

        Assert.Equal("engine", await ConfigOnlyHost.WhoOverHttp2Async(host.Address("http")));
        Assert.Equal("kestrel", await ConfigOnlyHost.WhoOverHttp11Async(host.Address("http")));
        Assert.Equal("engine", await ConfigOnlyHost.WhoOverHttp2Async(host.Address("https")));
        Assert.Equal("kestrel", await ConfigOnlyHost.WhoOverHttp11Async(host.Address("https")));
        Assert.True(await RawHttp2Probe.ServedByEngineAsync(host.Address("https").Port, tls: true));
        Assert.Equal(2, Volatile.Read(ref defaultsApplied));
    }

    [Fact]
    public async Task AllEndpointsTakesAPortOnEveryAddressAsAContainerImageSetsIt()
    {
        // ASPNETCORE_HTTP_PORTS, set by the .NET container images, is http://*:port.
        await using var host = await ConfigOnlyHost.StartAsync(new() { ["http_ports"] = "0", ["Http2ServeLoop:AllEndpoints"] = "true" });

        Assert.Equal("engine", await ConfigOnlyHost.WhoOverHttp2Async(host.Address("http")));
    }

    [Fact]
    public async Task WithoutAnOptInEveryConfiguredEndpointStaysWithKestrel()
    {
        await using var host = await ConfigOnlyHost.StartAsync(new()
        {
            ["Kestrel:Endpoints:Plain:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Plain:Protocols"] = "Http2",
            ["urls"] = "http://127.0.0.1:0",
        });

        Assert.Equal("kestrel", await ConfigOnlyHost.WhoOverHttp2Async(host.Address("http")));
    }

    /// <summary>UseHttps(certificate) in ConfigureKestrel makes Kestrel read its endpoint configuration there and then.</summary>
    private static void ListenWithTlsInCode(WebApplicationBuilder builder) =>
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(HelloH2.SelfSignedCertificate.Create())));

    [Fact]
    public async Task ACodeEndpointWithTlsConfiguredAfterAddHttp2ServeLoopStillLetsTheConfiguredEndpointOptIn()
    {
        await using var host = await ConfigOnlyHost.StartAsync(
            new() { ["Kestrel:Endpoints:Plain:Url"] = "http://127.0.0.1:0", ["Http2ServeLoop:Endpoints:0"] = "Plain" },
            configure: ListenWithTlsInCode);

        Assert.Equal("engine", await ConfigOnlyHost.WhoOverHttp2Async(host.Address("http")));
        Assert.Equal("kestrel", await ConfigOnlyHost.WhoOverHttp2Async(host.Address("https")));
    }

    [Fact]
    public async Task WhenKestrelReadsItsEndpointsBeforeAddHttp2ServeLoopTheStartFailsAndSaysWhy()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ConfigOnlyHost.StartAsync(
            new() { ["Kestrel:Endpoints:Plain:Url"] = "http://127.0.0.1:0", ["Http2ServeLoop:Endpoints:0"] = "Plain" },
            configureFirst: ListenWithTlsInCode));

        Assert.Contains("call AddHttp2ServeLoop first", error.Message);
    }

    [Fact]
    public async Task AnEndpointCallbackInCodeThatCallsUseHttp2ServeLoopServesTheEndpoint()
    {
        await using var host = await ConfigOnlyHost.StartAsync(
            new() { ["Kestrel:Endpoints:Plain:Url"] = "http://127.0.0.1:0", ["Http2ServeLoop:Endpoints:0"] = "Plain" },
            configure: builder => builder.WebHost.ConfigureKestrel(kestrel =>
                kestrel.ConfigurationLoader!.Endpoint("Plain", endpoint => endpoint.UseHttp2ServeLoop(options => options.MaxStreamsPerConnection = 3))));

        Assert.Equal("engine", await ConfigOnlyHost.WhoOverHttp2Async(host.Address("http")));
        Assert.Equal(3u, (await RawHttp2Probe.SettingsAsync(host.Address("http").Port))[Http2SettingsParameter.MaxConcurrentStreams]);
    }

    [Fact]
    public async Task AnEndpointCallbackInCodeThatForgetsTheEngineFailsTheStart()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ConfigOnlyHost.StartAsync(
            new() { ["Kestrel:Endpoints:Plain:Url"] = "http://127.0.0.1:0", ["Http2ServeLoop:Endpoints:0"] = "Plain" },
            configure: builder => builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigurationLoader!.Endpoint("Plain", _ => { }))));

        Assert.Contains("call endpoint.UseHttp2ServeLoop() there", error.Message);
    }

    [Fact]
    public async Task ANameThatIsNotAKestrelEndpointIsRefusedAtStart()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ConfigOnlyHost.StartAsync(new()
        {
            ["Kestrel:Endpoints:Plain:Url"] = "http://127.0.0.1:0",
            ["Http2ServeLoop:Endpoints:0"] = "Plian",
        }));
        Assert.Contains("Kestrel:Endpoints:Plian", error.Message);
    }

    [Fact]
    public async Task AnEndpointWithSniIsRefusedRatherThanServedWithoutItsCertificateSelection()
    {
        using var pfx = new PfxFile();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ConfigOnlyHost.StartAsync(new()
        {
            ["Kestrel:Endpoints:Secure:Url"] = "https://127.0.0.1:0",
            ["Kestrel:Endpoints:Secure:Sni:localhost:Certificate:Path"] = pfx.Path,
            ["Kestrel:Endpoints:Secure:Sni:localhost:Certificate:Password"] = pfx.Password,
            ["Http2ServeLoop:Endpoints:0"] = "Secure",
        }));
        Assert.Contains("has an Sni section", error.Message);
    }
}
