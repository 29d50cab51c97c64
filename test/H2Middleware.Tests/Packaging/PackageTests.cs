using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace H2Middleware.Tests.Packaging;

/// <summary>
/// The NuGet package as a user gets it: <c>build/pack.sh</c> packs it into a folder, a new web application references it
/// through a nuget.config naming that folder, and, run with only <c>--urls</c> and <c>Http2ServeLoop:AllEndpoints</c>,
/// serves HTTP/2 with the engine. The package cache is the test's own, so a package of the same version from an earlier
/// run is never used instead.
/// </summary>
[Collection(PackageCollection.Name)]
[Trait("Category", "Package")]
public partial class PackageTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ThePackageInstalledFromAFolderServesHttp2InANewApplication()
    {
        string root = FindRepositoryRoot();
        string work = Directory.CreateTempSubdirectory("h2middleware-package-").FullName;
        try
        {
            Stopwatch clock = Stopwatch.StartNew();
            string packages = Path.Combine(work, "packages");
            await RunAsync("bash", [Path.Combine(root, "build", "pack.sh"), packages], root, TimeSpan.FromSeconds(90));
            Assert.Single(Directory.GetFiles(packages, "H2Middleware.*.snupkg"));
            string version = Path.GetFileNameWithoutExtension(Directory.GetFiles(packages, "H2Middleware.*.nupkg").Single())["H2Middleware.".Length..];
            output.WriteLine($"pack: {clock.Elapsed.TotalSeconds:F1} s");

            string app = WriteApplication(work, version);
            clock.Restart();
            await RunAsync("dotnet", ["build", "-c", "Release", "--disable-build-servers", "-nodeReuse:false"], app, TimeSpan.FromSeconds(90));
            output.WriteLine($"restore and build: {clock.Elapsed.TotalSeconds:F1} s");

            clock.Restart();
            using Process server = StartApplication(app);
            try
            {
                Uri address = await ListeningAddressAsync(server, TimeSpan.FromSeconds(30));
                using var client = new HttpClient { BaseAddress = address, DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
                Assert.Equal("HTTP/2 engine", await client.GetStringAsync("/"));
                output.WriteLine($"start and serve: {clock.Elapsed.TotalSeconds:F1} s");
            }
            finally
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string FindRepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "H2Middleware.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No H2Middleware.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>
    /// The folder of packs is the one package source added to the machine's own; the packages restored go to a cache of
    /// the test's own. The application serves what configuration asks for, and says whether the engine served it.
    /// </summary>
    private static string WriteApplication(string work, string version)
    {
        File.WriteAllText(Path.Combine(work, "nuget.config"), """
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="package-cache" />
              </config>
              <packageSources>
                <add key="h2middleware-local" value="packages" />
              </packageSources>
            </configuration>
            """);
        string app = Directory.CreateDirectory(Path.Combine(work, "app")).FullName;
        File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="H2Middleware" Version="[{version}]" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using H2Middleware.Scheduling;

            var builder = WebApplication.CreateBuilder(args);
            builder.Services.AddHttp2ServeLoop(builder.Configuration.GetSection("Http2ServeLoop"));
            var app = builder.Build();
            app.MapGet("/", (HttpContext context) =>
                $"{context.Request.Protocol} {(context.Features.Get<IHttp2StreamPriorityFeature>() is null ? "kestrel" : "engine")}");
            app.Run();
            """);
        return app;
    }

    private static Process StartApplication(string app)
    {
        ProcessStartInfo start = Command("dotnet", [Path.Combine(app, "bin", "Release", "net10.0", "App.dll"), "--urls", "http://127.0.0.1:0", "--Http2ServeLoop:AllEndpoints=true"], app);
        return Process.Start(start) ?? throw new InvalidOperationException("The application did not start.");
    }

    /// <summary>Reads the application's log until it says where it listens (Kestrel chose a free port).</summary>
    private static async Task<Uri> ListeningAddressAsync(Process server, TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        var log = new List<string>();
        while (await server.StandardOutput.ReadLineAsync(limit.Token) is { } line)
        {
            log.Add(line);
            if (ListeningOn().Match(line) is { Success: true } match)
            {
                return new Uri(match.Value);
            }
        }

        throw new InvalidOperationException($"The application exited without listening:\n{string.Join('\n', log)}\n{await server.StandardError.ReadToEndAsync()}");
    }

    private static async Task RunAsync(string fileName, string[] arguments, string directory, TimeSpan timeout)
    {
        using Process process = Process.Start(Command(fileName, arguments, directory)) ?? throw new InvalidOperationException($"{fileName} did not start.");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} took more than {timeout.TotalSeconds} s.");
        }

        Assert.True(process.ExitCode == 0, $"{fileName} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{await stdout}\n{await stderr}");
    }

    /// <summary>
    /// A dotnet command as a user would run it: without the MSBuild settings the test run's own build leaves in the
    /// environment, which would point a nested build at the test run's MSBuild.
    /// </summary>
    private static ProcessStartInfo Command(string fileName, string[] arguments, string directory)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        return start;
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:[0-9]+")]
    private static partial Regex ListeningOn();
}
