using System.Net;
using H2Middleware.Frames;
using H2Middleware.Scheduling;
using H2Middleware.Tests.EndToEnd;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace H2Middleware.Tests.Configuration;

/// <summary><c>AddHttp2ServeLoop(IConfiguration)</c>: <see cref="Http2ServeLoopOptions"/> from appsettings.json or the environment.</summary>
public class OptionsConfigurationTests
{
    private static Http2ServeLoopOptions Bind(Dictionary<string, string?> values)
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddHttp2ServeLoop(configuration);
        using ServiceProvider provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptionsFactory<Http2ServeLoopOptions>>().Create(Options.DefaultName);
    }

    [Fact]
    public void NumbersDurationsAndSwitchesBind()
    {
        Http2ServeLoopOptions options = Bind(new()
        {
            ["MaxStreamsPerConnection"] = "250",
            ["MaxFrameSize"] = "32768",
            ["InitialStreamWindowSize"] = "1048576",
            ["MaxRequestBodySize"] = "1000",
            ["KeepAliveTimeout"] = "00:01:00",
            ["KeepAlivePingDelay"] = "00:00:15",
            ["RequestHeadersTimeout"] = "00:00:05",
            ["AllowSynchronousIO"] = "true",
            ["EnableAdaptiveReceiveWindows"] = "false",
            ["MaxReceiveWindowSize"] = "8388608",
        });

        Assert.Equal(250, options.MaxStreamsPerConnection);
        Assert.Equal(32_768, options.MaxFrameSize);
        Assert.Equal(1_048_576, options.InitialStreamWindowSize);
        Assert.Equal(1_000, options.MaxRequestBodySize);
        Assert.Equal(TimeSpan.FromMinutes(1), options.KeepAliveTimeout);
        Assert.Equal(TimeSpan.FromSeconds(15), options.KeepAlivePingDelay);
        Assert.Equal(TimeSpan.FromSeconds(5), options.RequestHeadersTimeout);
        Assert.True(options.AllowSynchronousIO);
        Assert.False(options.EnableAdaptiveReceiveWindows);
        Assert.Equal(8 * 1024 * 1024, options.MaxReceiveWindowSize);
        Assert.Equal(new Http2ServeLoopOptions().ClientErrorBudget, options.ClientErrorBudget);
    }

    [Fact]
    public void AnInfiniteDurationBindsAndAnEmptyValueTurnsTheBodyLimitOff()
    {
        Http2ServeLoopOptions options = Bind(new() { ["KeepAlivePingDelay"] = "-00:00:00.001", ["MaxRequestBodySize"] = "" });

        Assert.Equal(Timeout.InfiniteTimeSpan, options.KeepAlivePingDelay);
        Assert.Null(options.MaxRequestBodySize);
    }

    [Fact]
    public void DataRatesAreMadeFromTheirSectionAndAnEmptyValueTurnsOneOff()
    {
        Http2ServeLoopOptions options = Bind(new()
        {
            ["MinRequestBodyDataRate:BytesPerSecond"] = "100",
            ["MinRequestBodyDataRate:GracePeriod"] = "00:00:10",
            ["MinResponseDataRate"] = "",
        });

        Assert.Equal(100, options.MinRequestBodyDataRate!.BytesPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(10), options.MinRequestBodyDataRate.GracePeriod);
        Assert.Null(options.MinResponseDataRate);
    }

    [Fact]
    public void ADataRateSectionWithOneKeyKeepsTheOtherValue()
    {
        Http2ServeLoopOptions options = Bind(new() { ["MinResponseDataRate:GracePeriod"] = "00:00:20" });

        Assert.Equal(new Http2ServeLoopOptions().MinResponseDataRate!.BytesPerSecond, options.MinResponseDataRate!.BytesPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(20), options.MinResponseDataRate.GracePeriod);
    }

    [Fact]
    public void TheWriteSchedulerIsChosenByNameAndAnUnknownNameIsRefused()
    {
        Assert.IsType<Rfc9218WriteScheduler>(Bind(new() { ["WriteScheduler"] = "rfc9218" }).WriteSchedulerFactory());
        Assert.IsType<Rfc7540PriorityTreeScheduler>(Bind(new() { ["WriteScheduler"] = "Rfc7540PriorityTree" }).WriteSchedulerFactory());
        Assert.IsType<RoundRobinWriteScheduler>(Bind(new() { ["WriteScheduler"] = "RoundRobin" }).WriteSchedulerFactory());
        Assert.IsType<Rfc9218WriteScheduler>(Bind([]).WriteSchedulerFactory());

        var error = Assert.Throws<InvalidOperationException>(() => Bind(new() { ["WriteScheduler"] = "Fastest" }));
        Assert.Contains("RoundRobin, Rfc9218, Random, Rfc7540PriorityTree", error.Message);
    }

    [Fact]
    public async Task AHostConfiguredOnlyFromConfigurationAdvertisesTheBoundLimits()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Http2ServeLoop:MaxStreamsPerConnection"] = "7",
            ["Http2ServeLoop:InitialStreamWindowSize"] = "131072",
            ["Http2ServeLoop:MaxFrameSize"] = "20000",
        });
        builder.Services.AddHttp2ServeLoop(builder.Configuration.GetSection("Http2ServeLoop"));
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttp2ServeLoop()));
        await using WebApplication app = builder.Build();
        app.MapGet("/", () => "ok");
        await app.StartAsync();

        int port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        IReadOnlyDictionary<Http2SettingsParameter, uint> settings = await RawHttp2Probe.SettingsAsync(port);

        Assert.Equal(7u, settings[Http2SettingsParameter.MaxConcurrentStreams]);
        Assert.Equal(131_072u, settings[Http2SettingsParameter.InitialWindowSize]);
        Assert.Equal(20_000u, settings[Http2SettingsParameter.MaxFrameSize]);
        Assert.Equal(1u, settings[Http2SettingsParameter.NoRfc7540Priorities]);
        await app.StopAsync();
    }
}
