using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using H2Middleware.Frames;
using Xunit.Abstractions;

namespace H2Middleware.Tests.Attacks;

/// <summary>
/// Environment of a run. Unset, the tests run each attack briefly (CI). <c>H2_ATTACK_SECONDS</c> makes every attack last
/// that long, after an unmeasured one-second warm-up of the same attack; <c>H2_ATTACK_REPORT</c> names a file to which
/// each attack appends one tab-separated line of figures (build/attacks.sh uses both).
/// </summary>
internal static class AttackSettings
{
    public static TimeSpan? Duration { get; } =
        double.TryParse(Environment.GetEnvironmentVariable("H2_ATTACK_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : null;

    public static bool Measuring => Duration is not null;

    public static string? ReportPath { get; } = Environment.GetEnvironmentVariable("H2_ATTACK_REPORT");
}

/// <summary>What one attack run can use: the server's port, the time left, and its connections.</summary>
internal sealed class AttackContext(int port, TimeSpan duration)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<RawHttp2Socket> _connections = [];

    public int Port { get; } = port;

    public TimeSpan Duration { get; } = duration;

    public bool TimeLeft => _clock.Elapsed < Duration;

    public TimeSpan Remaining => Duration > _clock.Elapsed ? Duration - _clock.Elapsed : TimeSpan.Zero;

    /// <summary>Every attacker connection opened, in order (still open ones are closed after the memory snapshot).</summary>
    public IReadOnlyList<RawHttp2Socket> Connections
    {
        get
        {
            lock (_connections)
            {
                return [.. _connections];
            }
        }
    }

    /// <summary>How many rounds <see cref="RepeatAsync"/> ran.</summary>
    public int Rounds { get; private set; }

    /// <summary>Opens an attacker connection and completes the handshake (preface, SETTINGS, our ack of theirs).</summary>
    public async Task<RawHttp2Socket> ConnectAsync(params Http2Setting[] settings)
    {
        RawHttp2Socket socket = await ConnectRawAsync();
        await socket.HandshakeAsync(settings);
        return socket;
    }

    /// <summary>Opens an attacker connection that has sent nothing yet.</summary>
    public async Task<RawHttp2Socket> ConnectRawAsync()
    {
        RawHttp2Socket socket = await RawHttp2Socket.ConnectAsync(Port);
        lock (_connections)
        {
            _connections.Add(socket);
        }

        return socket;
    }

    /// <summary>
    /// A persistent attacker: runs the round (a connection attacked until it is cut off) again and again until the time
    /// is up, at least once, at most <paramref name="maxRounds"/> times and at most 20 rounds a second.
    /// </summary>
    public async Task RepeatAsync(Func<Task> round, int maxRounds = 200)
    {
        do
        {
            var clock = Stopwatch.StartNew();
            await round();
            Rounds++;
            TimeSpan pause = TimeSpan.FromMilliseconds(50) - clock.Elapsed;
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause);
            }
        }
        while (TimeLeft && Rounds < maxRounds);
    }

    public async Task CloseAllAsync()
    {
        foreach (RawHttp2Socket connection in Connections)
        {
            await connection.DisposeAsync();
        }
    }
}

internal static class Flood
{
    /// <summary>
    /// Sends frames at a bounded rate, in batches, until the server cuts the connection off, the time is up, or
    /// <paramref name="maxFrames"/> were sent. <paramref name="write"/> writes the frame (or frames) of step i.
    /// Returns how many steps were sent.
    /// </summary>
    public static async Task<int> RunAsync(RawHttp2Socket socket, int perSecond, TimeSpan duration, int maxFrames, Action<IBufferWriter<byte>, int> write)
    {
        var clock = Stopwatch.StartNew();
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        int sent = 0;
        int perTick = Math.Max(1, perSecond / 100);
        while (sent < maxFrames && clock.Elapsed < duration && !socket.IsCutOff)
        {
            int due = (int)Math.Min(maxFrames, (perSecond * clock.Elapsed.TotalSeconds) + perTick);
            int batch = Math.Min(due - sent, 2 * perTick);
            if (batch <= 0)
            {
                await Task.Delay(5);
                continue;
            }

            buffer.ResetWrittenCount();
            for (int i = 0; i < batch; i++)
            {
                write(buffer, sent + i);
            }

            if (!await socket.SendRawAsync(buffer.WrittenMemory))
            {
                break;
            }

            sent += batch;
        }

        return sent;
    }
}

/// <summary>What an attack did to the server and what the server did to the attacker.</summary>
internal sealed record AttackOutcome(
    string Name,
    ProbeResult Probe,
    double HeldMegabytes,
    double LeftMegabytes,
    double PeakWorkingSetGrowthMegabytes,
    double MaxSchedulingGapMs,
    double MaxThreadPoolDelayMs,
    double MaxThreadPoolDelayAtMs,
    IReadOnlyList<RawHttp2Socket> Connections,
    int Rounds,
    TimeSpan Elapsed)
{
    public override string ToString()
    {
        RawHttp2Socket? first = Connections.Count > 0 ? Connections[0] : null;
        return $"{Name}: {Elapsed.TotalSeconds:0.0} s, {Rounds} round(s), {Connections.Count} connection(s); probe {Probe}; " +
            $"heap held +{HeldMegabytes:0.0} MB (+{LeftMegabytes:0.0} MB after), working set peak +{PeakWorkingSetGrowthMegabytes:0.0} MB; " +
            $"process not scheduled up to {MaxSchedulingGapMs:0} ms, thread pool delay up to {MaxThreadPoolDelayMs:0} ms (at {MaxThreadPoolDelayAtMs:0} ms); first attacker: {first}";
    }
}

/// <summary>Runs an attack while the probe runs, measures memory, reports, and checks that the server was unharmed.</summary>
public abstract class AttackTestBase(AttackServer server, ITestOutputHelper output)
{
    /// <summary>How long a round waits for the server to cut off an attacker that keeps attacking.</summary>
    internal static readonly TimeSpan CutOffTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The loose bounds every attack must stay within.</summary>
    private const double MaxProbeLatencyMs = 5_000;
    private const double MaxMemoryGrowthMegabytes = 256;

    internal AttackServer Server { get; } = server;

    /// <param name="testDuration">How long the attack lasts in a test run; <c>H2_ATTACK_SECONDS</c> replaces it.</param>
    internal async Task<AttackOutcome> RunAsync(string name, TimeSpan testDuration, Func<AttackContext, Task> attack)
    {
        TimeSpan duration = AttackSettings.Duration ?? testDuration;
        if (AttackSettings.Measuring)
        {
            // Warm the server's code paths for this attack (tiered JIT) before measuring it.
            var warmUp = new AttackContext(Server.Port, TimeSpan.FromSeconds(1));
            await Task.Run(() => attack(warmUp));
            await warmUp.CloseAllAsync();
        }

        long baseline = GC.GetTotalMemory(forceFullCollection: true);
        long baselineWorkingSet = Environment.WorkingSet;
        long peakWorkingSet = baselineWorkingSet;
        using var stopSampling = new CancellationTokenSource();
        Task sampler = Task.Run(async () =>
        {
            while (!stopSampling.IsCancellationRequested)
            {
                peakWorkingSet = Math.Max(peakWorkingSet, Environment.WorkingSet);
                await Task.Delay(50, CancellationToken.None);
            }
        });

        using var stalls = new StallMonitor();
        // Probe and attack run on the thread pool, not on xunit's synchronisation context, so neither waits for the other.
        await using Probe probe = await Task.Run(() => Probe.StartAsync(Server.Host));
        var context = new AttackContext(Server.Port, duration);
        var clock = Stopwatch.StartNew();
        Exception? failure = null;
        try
        {
            await Task.Run(() => attack(context));
        }
        catch (Exception exception)
        {
            failure = exception;
        }

        TimeSpan elapsed = clock.Elapsed;
        // What the server holds while the attacker's connections are still open.
        long held = GC.GetTotalMemory(forceFullCollection: true) - baseline;
        await context.CloseAllAsync();
        await Task.Delay(200);
        ProbeResult probeResult = await probe.StopAsync();
        stopSampling.Cancel();
        await sampler;
        // What is left once the attackers are gone (a leak would show here).
        long left = GC.GetTotalMemory(forceFullCollection: true) - baseline;
        var outcome = new AttackOutcome(
            name,
            probeResult,
            held / (1024.0 * 1024),
            left / (1024.0 * 1024),
            (peakWorkingSet - baselineWorkingSet) / (1024.0 * 1024),
            stalls.MaxSchedulingGapMs,
            stalls.MaxThreadPoolDelayMs,
            stalls.MaxThreadPoolDelayAtMs,
            context.Connections,
            context.Rounds,
            elapsed);
        Report(outcome);
        if (failure is not null)
        {
            throw new Xunit.Sdk.XunitException($"the attack itself failed: {failure}");
        }

        return outcome;
    }

    private void Report(AttackOutcome outcome)
    {
        output.WriteLine(outcome.ToString());
        foreach (string failure in outcome.Probe.Failures.Take(5))
        {
            output.WriteLine("  probe failure: " + failure);
        }

        if (AttackSettings.ReportPath is { } path)
        {
            RawHttp2Socket? first = outcome.Connections.Count > 0 ? outcome.Connections[0] : null;
            string line = string.Join('\t',
                outcome.Name,
                outcome.Probe.Requests.ToString(CultureInfo.InvariantCulture),
                outcome.Probe.Failures.Count.ToString(CultureInfo.InvariantCulture),
                outcome.Probe.MaxMs.ToString("0", CultureInfo.InvariantCulture),
                outcome.Probe.P99Ms.ToString("0", CultureInfo.InvariantCulture),
                outcome.HeldMegabytes.ToString("0.0", CultureInfo.InvariantCulture),
                outcome.LeftMegabytes.ToString("0.0", CultureInfo.InvariantCulture),
                outcome.PeakWorkingSetGrowthMegabytes.ToString("0.0", CultureInfo.InvariantCulture),
                outcome.Connections.Count.ToString(CultureInfo.InvariantCulture),
                first?.ToString() ?? "",
                outcome.MaxSchedulingGapMs.ToString("0", CultureInfo.InvariantCulture),
                outcome.MaxThreadPoolDelayMs.ToString("0", CultureInfo.InvariantCulture),
                outcome.Probe.WorstSentAtMs.ToString("0", CultureInfo.InvariantCulture));
            lock (typeof(AttackSettings))
            {
                File.AppendAllText(path, line + Environment.NewLine);
            }
        }
    }

    /// <summary>Waits for the server to cut the attacker off and, after a GOAWAY, to close the connection.</summary>
    internal static async Task AwaitCutOffAsync(RawHttp2Socket attacker)
    {
        if (await attacker.WaitForCutOffAsync(CutOffTimeout))
        {
            await attacker.WaitForCloseAsync(CutOffTimeout);
        }
    }

    /// <summary>The probe saw no failure and answers came in time; memory stayed within bounds.</summary>
    internal static void AssertServerUnharmed(AttackOutcome outcome)
    {
        Assert.True(outcome.Probe.Requests > 0, "the probe sent nothing");
        Assert.True(outcome.Probe.Failures.Count == 0, $"{outcome.Probe.Failures.Count} probe request(s) failed; first: {outcome.Probe.Failures.FirstOrDefault()}");
        Assert.True(outcome.Probe.MaxMs < MaxProbeLatencyMs, $"the probe waited {outcome.Probe.MaxMs:0} ms");
        Assert.True(outcome.HeldMegabytes < MaxMemoryGrowthMegabytes, $"the server held {outcome.HeldMegabytes:0} MB more during the attack");
        Assert.All(outcome.Connections, c => Assert.True(c.ServerFrameError is null, $"the server sent an invalid frame: {c.ServerFrameError}"));
    }

    /// <summary>The server answered the attacker with GOAWAY(<paramref name="errorCode"/>) and closed the connection.</summary>
    internal static void AssertGoAwayAndClose(RawHttp2Socket attacker, Http2ErrorCode errorCode, params string[] debugData)
    {
        Assert.True(attacker.GoAway is not null, $"no GOAWAY: {attacker}");
        Assert.Equal(errorCode, attacker.GoAway!.ErrorCode);
        if (debugData.Length > 0)
        {
            Assert.Contains(attacker.GoAway.DebugData, debugData);
        }

        Assert.True(attacker.IsClosed, $"the server did not close the connection after its GOAWAY: {attacker}");
    }
}
