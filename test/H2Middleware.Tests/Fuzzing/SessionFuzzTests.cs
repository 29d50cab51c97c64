using Xunit.Abstractions;

namespace H2Middleware.Tests.Fuzzing;

/// <summary>
/// Structured fuzzing of whole client sessions against the serve loop (see docs/FUZZING.md). In CI: a fixed seed and
/// a fixed number of cases, so every run plays the same sessions. build/fuzz.sh runs the same test longer, or with
/// another seed, through the FUZZ_* environment variables.
/// Its heap bound is process-wide, so it runs alone, not beside tests that move megabytes.
/// </summary>
[Collection(SoloCollection.Name)]
public class SessionFuzzTests(ITestOutputHelper output)
{
    /// <summary>Tuned to about 30–60 s on the project's 2-core machine.</summary>
    public const long CiCases = 10_000;

    public const ulong CiSeed = 20_260_601;

    [Fact]
    public async Task GeneratedSessionsNeverCrashHangOrLeak()
    {
        FuzzSettings settings = FuzzSettings.FromEnvironment(CiCases, CiSeed);

        // xunit shows a test's output only when it ends; FUZZ_LOG names a file that follows a long run as it goes.
        string? progressFile = Environment.GetEnvironmentVariable("FUZZ_LOG");
        await FuzzDriver.RunAsync(settings, line =>
        {
            output.WriteLine(line);
            if (!string.IsNullOrEmpty(progressFile))
            {
                File.AppendAllText(progressFile, line + Environment.NewLine);
            }
        });
    }

    [Fact]
    public void TheSameSeedGeneratesTheSameSessions()
    {
        for (int i = 0; i < 50; i++)
        {
            string first = FuzzGen.Session.Generate(FuzzDriver.CasePcg(CiSeed, i), null, out _).Describe();
            string again = FuzzGen.Session.Generate(FuzzDriver.CasePcg(CiSeed, i), null, out _).Describe();
            string replayed = FuzzGen.Session.Generate(CsCheck.PCG.Parse(FuzzDriver.CasePcg(CiSeed, i).ToString()), null, out _).Describe();
            Assert.Equal(first, again);
            Assert.Equal(first, replayed);
        }
    }
}
