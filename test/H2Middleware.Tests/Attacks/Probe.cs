using System.Diagnostics;
using H2Middleware.Tests.EndToEnd;

namespace H2Middleware.Tests.Attacks;

/// <summary>
/// A well-behaved client on its own connection (HttpClient, HTTP/2 prior knowledge) that sends a GET at a fixed rate
/// while an attack runs and records each request's latency and any failure. Requests are not serialised: a stalled
/// server shows up as growing latencies, not as a slower probe.
/// </summary>
internal sealed class Probe : IAsyncDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    private readonly HttpClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _requests = [];
    private readonly List<double> _latenciesMs = [];
    private readonly Stopwatch _sinceStart = Stopwatch.StartNew();
    private double _worstAtMs;
    private readonly List<string> _failures = [];
    private readonly TimeSpan _interval;
    private Task? _loop;

    private Probe(HttpClient client, int requestsPerSecond)
    {
        _client = client;
        _interval = TimeSpan.FromSeconds(1.0 / requestsPerSecond);
    }

    /// <summary>Opens the probe's connection with one unmeasured request, then starts sending.</summary>
    public static async Task<Probe> StartAsync(KestrelTestHost host, int requestsPerSecond = 20)
    {
        var probe = new Probe(host.CreateHttp2Client(), requestsPerSecond);
        using (var warm = new CancellationTokenSource(RequestTimeout))
        {
            (await probe._client.GetAsync("/probe", warm.Token)).EnsureSuccessStatusCode();
        }

        probe._loop = probe.RunAsync();
        return probe;
    }

    private async Task RunAsync()
    {
        using var timer = new PeriodicTimer(_interval);
        do
        {
            lock (_requests)
            {
                _requests.Add(SendOneAsync());
            }
        }
        while (await WaitForTickAsync(timer));
    }

    private async Task<bool> WaitForTickAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stop.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task SendOneAsync()
    {
        var clock = Stopwatch.StartNew();
        try
        {
            using var timeout = new CancellationTokenSource(RequestTimeout);
            using HttpResponseMessage response = await _client.GetAsync("/probe", timeout.Token);
            string body = await response.Content.ReadAsStringAsync(timeout.Token);
            if (!response.IsSuccessStatusCode || body != "ok")
            {
                throw new InvalidOperationException($"status {(int)response.StatusCode}, body \"{body}\"");
            }

            lock (_latenciesMs)
            {
                double latency = clock.Elapsed.TotalMilliseconds;
                if (_latenciesMs.Count == 0 || latency > _latenciesMs.Max())
                {
                    _worstAtMs = _sinceStart.Elapsed.TotalMilliseconds - latency;
                }

                _latenciesMs.Add(latency);
            }
        }
        catch (Exception exception)
        {
            lock (_latenciesMs)
            {
                _failures.Add($"{exception.GetType().Name} after {clock.ElapsedMilliseconds} ms: {exception.Message}");
            }
        }
    }

    /// <summary>Stops sending, waits for the requests in flight (each bounded by its timeout) and summarises.</summary>
    public async Task<ProbeResult> StopAsync()
    {
        _stop.Cancel();
        await _loop!;
        Task[] requests;
        lock (_requests)
        {
            requests = [.. _requests];
        }

        await Task.WhenAll(requests);
        lock (_latenciesMs)
        {
            double[] sorted = [.. _latenciesMs.Order()];
            return new ProbeResult(
                requests.Length,
                [.. _failures],
                sorted.Length == 0 ? 0 : sorted[^1],
                sorted.Length == 0 ? 0 : sorted[(int)Math.Min(sorted.Length - 1, Math.Ceiling(0.99 * sorted.Length) - 1)],
                sorted.Length == 0 ? 0 : sorted[sorted.Length / 2],
                _worstAtMs);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_loop is not null && !_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _client.Dispose();
        _stop.Dispose();
    }
}

/// <param name="WorstSentAtMs">When the slowest request was sent, since the probe started.</param>
internal sealed record ProbeResult(int Requests, IReadOnlyList<string> Failures, double MaxMs, double P99Ms, double MedianMs, double WorstSentAtMs)
{
    public override string ToString() =>
        $"{Requests} requests, {Failures.Count} failed, median {MedianMs:0} ms, p99 {P99Ms:0} ms, max {MaxMs:0} ms (sent at {WorstSentAtMs:0} ms)";
}
