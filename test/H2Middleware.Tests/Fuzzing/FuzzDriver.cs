using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using CsCheck;

namespace H2Middleware.Tests.Fuzzing;

/// <summary>What a fuzz run does; the environment (FUZZ_*) overrides the CI defaults, for build/fuzz.sh.</summary>
internal sealed record FuzzSettings(long Cases, TimeSpan? Duration, ulong Seed, string? Replay, int ShrinkSeconds, bool KeepGoing, bool Verbose = false, string[]? Ignore = null)
{
    public static FuzzSettings FromEnvironment(long defaultCases, ulong defaultSeed)
    {
        string? cases = Environment.GetEnvironmentVariable("FUZZ_CASES");
        string? seconds = Environment.GetEnvironmentVariable("FUZZ_SECONDS");
        string? seed = Environment.GetEnvironmentVariable("FUZZ_SEED");
        string? shrink = Environment.GetEnvironmentVariable("FUZZ_SHRINK_SECONDS");
        return new FuzzSettings(
            string.IsNullOrEmpty(cases) ? (string.IsNullOrEmpty(seconds) ? defaultCases : long.MaxValue) : long.Parse(cases, CultureInfo.InvariantCulture),
            string.IsNullOrEmpty(seconds) ? null : TimeSpan.FromSeconds(double.Parse(seconds, CultureInfo.InvariantCulture)),
            string.IsNullOrEmpty(seed) ? defaultSeed : ulong.Parse(seed, CultureInfo.InvariantCulture),
            NullIfEmpty(Environment.GetEnvironmentVariable("FUZZ_REPLAY")),
            string.IsNullOrEmpty(shrink) ? 30 : int.Parse(shrink, CultureInfo.InvariantCulture),
            Environment.GetEnvironmentVariable("FUZZ_KEEP_GOING") is "1" or "true",
            Environment.GetEnvironmentVariable("FUZZ_VERBOSE") is "1" or "true",
            Environment.GetEnvironmentVariable("FUZZ_IGNORE")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}

/// <summary>
/// Runs sessions in a deterministic order: case i is generated from its own PCG, seeded from (FUZZ_SEED, i), so
/// the same seed and count always run the same sessions. Its CsCheck seed string replays it alone (FUZZ_REPLAY).
/// A failure is then shrunk with CsCheck (random search for a smaller session that still fails, bounded in time)
/// and reported with both dumps.
/// </summary>
internal static class FuzzDriver
{
    /// <summary>Managed heap after a full collection, checked every <see cref="HeapCheckInterval"/> cases.</summary>
    public const long HeapLimit = 256L * 1024 * 1024;

    private const int HeapCheckInterval = 100;
    private const int MaxReportedFailures = 5;

    public static async Task RunAsync(FuzzSettings settings, Action<string> log)
    {
        if (settings.Replay is { } replay)
        {
            await ReplayAsync(replay, settings, log);
            return;
        }

        // An exception in a task nobody awaits (a fire-and-forget inside the engine) surfaces here once the task is collected.
        var unobserved = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, e) => unobserved.Enqueue(e.Exception);
        TaskScheduler.UnobservedTaskException += onUnobserved;
        try
        {
            await RunCasesAsync(settings, log, unobserved);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }
    }

    private static async Task RunCasesAsync(FuzzSettings settings, Action<string> log, System.Collections.Concurrent.ConcurrentQueue<Exception> unobserved)
    {
        var stopwatch = Stopwatch.StartNew();
        var outcomes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var failures = new List<string>();
        var signatures = new HashSet<string>(StringComparer.Ordinal);
        long maxHeap = 0;
        long cases = 0;
        long failed = 0;
        for (long i = 0; i < settings.Cases && (settings.Duration is not { } duration || stopwatch.Elapsed < duration); i++)
        {
            PCG pcg = CasePcg(settings.Seed, i);
            string seedString = pcg.ToString();
            FuzzSession session = FuzzGen.Session.Generate(pcg, null, out Size size);
            cases++;
            try
            {
                string outcome = await FuzzRunner.RunAsync(session);
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
                if (settings.Verbose)
                {
                    log($"case {i} (FUZZ_REPLAY={seedString}): {outcome}");
                }
            }
            catch (Exception error) when (settings.Ignore?.FirstOrDefault(known => error.Message.Contains(known, StringComparison.Ordinal)) is { } known)
            {
                // A failure already recorded in FuzzFindingsTests, set aside (FUZZ_IGNORE) to look past it.
                string outcome = $"IGNORED known failure \"{known}\"";
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
            catch (Exception error)
            {
                failed++;
                string signature = Signature(error);
                log($"case {i} (FUZZ_REPLAY={seedString}) failed: {error.Message}");
                if (signatures.Add(signature) && failures.Count < MaxReportedFailures)
                {
                    failures.Add(await ReportAsync(i, seedString, size, session, error, settings, log));
                }

                if (!settings.KeepGoing)
                {
                    break;
                }
            }

            if ((i + 1) % HeapCheckInterval == 0)
            {
                maxHeap = Math.Max(maxHeap, CheckHeap(i));
                if (unobserved.TryDequeue(out Exception? lost))
                {
                    failed++;
                    failures.Add($"(a) an unobserved task exception surfaced in cases {Math.Max(0, i + 1 - HeapCheckInterval)}..{i} of FUZZ_SEED={settings.Seed} " +
                        $"(run them with FUZZ_CASES={i + 1} FUZZ_VERBOSE=1 to narrow down):\n{lost}");
                    unobserved.Clear();
                    if (!settings.KeepGoing)
                    {
                        break;
                    }
                }
            }

            if ((i + 1) % 1000 == 0)
            {
                log($"{i + 1} cases, {stopwatch.Elapsed.TotalSeconds:0} s");
            }
        }

        maxHeap = Math.Max(maxHeap, CheckHeap(cases));
        var summary = new StringBuilder();
        summary.AppendLine(CultureInfo.InvariantCulture, $"Fuzz: {cases} cases from FUZZ_SEED={settings.Seed} in {stopwatch.Elapsed.TotalSeconds:0.0} s, {failed} failed; largest heap after a full GC {maxHeap / (1024 * 1024)} MB");
        foreach ((string outcome, int count) in outcomes)
        {
            summary.AppendLine(CultureInfo.InvariantCulture, $"  {count,6}  {outcome}");
        }

        log(summary.ToString());
        if (failures.Count > 0)
        {
            throw new Xunit.Sdk.XunitException(
                $"{failed} of {cases} fuzz cases failed ({failures.Count} distinct failure(s) reported below).\n\n" + string.Join("\n\n", failures));
        }
    }

    /// <summary>The case's generator state: one PCG stream, its seed mixed from the run's seed and the case number.</summary>
    public static PCG CasePcg(ulong runSeed, long caseIndex)
    {
        ulong z = runSeed + ((ulong)caseIndex * 0x9E37_79B9_7F4A_7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return new PCG(7, z ^ (z >> 31));
    }

    private static async Task ReplayAsync(string seed, FuzzSettings settings, Action<string> log)
    {
        FuzzSession session = FuzzGen.Session.Generate(PCG.Parse(seed), null, out Size size);
        log($"Replaying FUZZ_REPLAY={seed} (size {size.I}):\n{session.Describe()}");
        try
        {
            string outcome = await FuzzRunner.RunAsync(session);
            log($"Passed: {outcome}");
        }
        catch (Exception error)
        {
            throw new Xunit.Sdk.XunitException(await ReportAsync(-1, seed, size, session, error, settings, log));
        }
    }

    private static async Task<string> ReportAsync(long caseIndex, string seed, Size size, FuzzSession session, Exception error, FuzzSettings settings, Action<string> log)
    {
        var report = new StringBuilder();
        report.AppendLine(caseIndex >= 0
            ? $"Fuzz case {caseIndex} of FUZZ_SEED={settings.Seed} failed."
            : $"Replayed fuzz case failed.");
        report.AppendLine(CultureInfo.InvariantCulture, $"  {error.Message}");
        report.AppendLine(CultureInfo.InvariantCulture, $"Reproduce this case alone: FUZZ_REPLAY={seed} build/fuzz.sh   (size {size.I})");
        report.AppendLine(Inner(error));
        report.AppendLine("Session:");
        report.AppendLine(session.Describe());
        report.AppendLine(ServerFrames(error));

        if (settings.ShrinkSeconds > 0)
        {
            log($"shrinking for up to {settings.ShrinkSeconds} s...");
            try
            {
                // Only the same failure counts while shrinking: another one would lead the search astray.
                string signature = Signature(error);
                await FuzzGen.Session.SampleAsync(
                    async s =>
                    {
                        try
                        {
                            await FuzzRunner.RunAsync(s);
                        }
                        catch (Exception other) when (Signature(other) != signature)
                        {
                        }
                    },
                    seed: seed,
                    time: settings.ShrinkSeconds,
                    threads: 1,
                    print: s => s.Describe());
                report.AppendLine("Shrinking: the case passed when run again (a timing-dependent failure?).");
            }
            catch (CsCheckException shrunk)
            {
                report.AppendLine("Shrunk by CsCheck (its seed replays the smallest failing session):");
                report.AppendLine(shrunk.Message);
                if (shrunk.InnerException is { } inner)
                {
                    report.AppendLine(CultureInfo.InvariantCulture, $"  fails with: {inner.Message}");
                    report.AppendLine(ServerFrames(inner));
                }

                if (Regex.Match(shrunk.Message, "Set seed: \"([^\"]+)\"") is { Success: true } match)
                {
                    report.AppendLine(CultureInfo.InvariantCulture, $"Reproduce the shrunk case: FUZZ_REPLAY={match.Groups[1].Value} build/fuzz.sh");
                }
            }
        }

        return report.ToString();
    }

    private static string ServerFrames(Exception error) =>
        error is FuzzViolation { ServerFrames.Count: > 0 } violation
            ? "frames the server sent:\n" + string.Join("\n", violation.ServerFrames.Take(300).Select((f, i) => $"  <{i,-3} {f}"))
            : string.Empty;

    private static string Inner(Exception error)
    {
        Exception? inner = error.InnerException;
        return inner is null ? string.Empty : $"Cause: {inner.GetType().FullName}: {inner.Message}\n{inner.StackTrace}";
    }

    /// <summary>Failures of the same kind at the same place count once: the message with its numbers removed.</summary>
    private static string Signature(Exception error) => Regex.Replace(error.Message, "[0-9]+|flags=[A-Za-z, ]+ length", "N");

    private static long CheckHeap(long cases)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        if (heap > HeapLimit)
        {
            throw new Xunit.Sdk.XunitException($"(d) the managed heap is {heap / (1024 * 1024)} MB after a full collection, {cases} cases in (limit {HeapLimit / (1024 * 1024)} MB)");
        }

        return heap;
    }
}
