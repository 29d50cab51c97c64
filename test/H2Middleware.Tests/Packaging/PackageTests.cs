using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Reflection.PortableExecutable;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace H2Middleware.Tests.Packaging;

/// <summary>
/// The NuGet package as a user gets it: <c>build/pack.sh</c> packs it into a folder, a new web application references it
/// through a nuget.config naming that folder, and, run with only <c>--urls</c> and <c>Http2ServeLoop:AllEndpoints</c>,
/// serves HTTP/2 with the engine, loaded from the assembly made for the platform. The package cache is the test's own,
/// so a package of the same version from an earlier run is never used instead.
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
            string package = Directory.GetFiles(packages, "H2Middleware.*.nupkg").Single();
            string version = Path.GetFileNameWithoutExtension(package)["H2Middleware.".Length..];
            output.WriteLine($"pack: {clock.Elapsed.TotalSeconds:F1} s");
            AssertAssembliesOf(package);

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
                Assert.Equal(ExpectedEngineAssembly(app), await client.GetStringAsync("/engine-assembly"));
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

    /// <summary>
    /// IL in lib/, for every platform; the same assembly ReadyToRun-compiled for linux-x64 in runtimes/linux-x64/lib/,
    /// where no other platform looks (another OS or architecture refuses to load a ReadyToRun image not made for it).
    /// </summary>
    private static void AssertAssembliesOf(string package)
    {
        using ZipArchive archive = ZipFile.OpenRead(package);
        (Machine machine, bool readyToRun) = Describe(archive, "lib/net10.0/H2Middleware.dll");
        Assert.False(readyToRun, "lib/net10.0/H2Middleware.dll is ReadyToRun: it would not load on other platforms.");
        Assert.Equal(Machine.I386, machine);
        (machine, readyToRun) = Describe(archive, "runtimes/linux-x64/lib/net10.0/H2Middleware.dll");
        Assert.True(readyToRun, "runtimes/linux-x64/lib/net10.0/H2Middleware.dll is not ReadyToRun.");
        Assert.Equal(LinuxAmd64, machine);
    }

    /// <summary>The machine field of a ReadyToRun image for Linux on x64: AMD64 exclusive-or Linux's OS override.</summary>
    private const Machine LinuxAmd64 = (Machine)(0x8664 ^ 0x7B79);

    private static (Machine Machine, bool ReadyToRun) Describe(ZipArchive archive, string entryName)
    {
        ZipArchiveEntry entry = archive.GetEntry(entryName) ?? throw new InvalidOperationException($"The package has no {entryName}.");
        using var bytes = new MemoryStream();
        using (Stream stream = entry.Open())
        {
            stream.CopyTo(bytes);
        }

        bytes.Position = 0;
        using var reader = new PEReader(bytes);
        CorHeader header = reader.PEHeaders.CorHeader ?? throw new InvalidOperationException($"{entryName} is not a .NET assembly.");
        return (reader.PEHeaders.CoffHeader.Machine, header.ManagedNativeHeaderDirectory.Size > 0);
    }

    /// <summary>Where the application should load the engine from: the ReadyToRun image on Linux x64, the IL elsewhere.</summary>
    private static string ExpectedEngineAssembly(string app)
    {
        string output = Path.Combine(app, "bin", "Release", "net10.0");
        return OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64
            ? Path.Combine(output, "runtimes", "linux-x64", "lib", "net10.0", "H2Middleware.dll")
            : Path.Combine(output, "H2Middleware.dll");
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
            app.MapGet("/engine-assembly", () => typeof(IHttp2StreamPriorityFeature).Assembly.Location);
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
