using System.Buffers;
using System.Diagnostics;
using System.Globalization;

namespace PriorityProbe;

/// <summary>
/// Scenario P1: a 100 MiB download at the lowest urgency (<c>priority: u=7</c>) is under way when a page's worth of
/// small requests at the highest urgency (<c>u=0</c>) follows, all at once. Reports how long the small requests took
/// (send to END_STREAM: what a user waits for) and the download's throughput, to show whether the server let the
/// urgent responses overtake the bulk bytes, and whether the download paid for it. With no small requests it is the
/// solo run: the download's throughput alone, the figure to compare with.
/// </summary>
internal sealed class UrgentRequestsScenario : IStreamObserver
{
    private const int DownloadStreamId = 1;
    private const int FirstSmallStreamId = 3;

    /// <summary>The small requests go once this much of the download has arrived, so that its bytes fill every queue on the way.</summary>
    private const long SmallRequestsAfterBytes = 4 * 1024 * 1024;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly int _smallRequests;
    private readonly long[] _smallEndTimestamps;
    private readonly TaskCompletionSource _downloadUnderWay = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _downloadEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _smallRequestsEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _downloadBytes;
    private long _downloadEndTimestamp;
    private int _smallRequestsPending;

    public UrgentRequestsScenario(int smallRequests)
    {
        _smallRequests = smallRequests;
        _smallRequestsPending = smallRequests;
        _smallEndTimestamps = new long[smallRequests];
    }

    /// <summary>Runs the scenario and returns its result line.</summary>
    public async Task<string> RunAsync(int port, long bytesPerSecond)
    {
        using ProbeConnection connection = await ProbeConnection.OpenAsync(port, bytesPerSecond, this);
        if (connection.ServerMaxConcurrentStreams < _smallRequests + 1)
        {
            throw new InvalidOperationException($"The server allows {connection.ServerMaxConcurrentStreams} concurrent streams; the scenario needs {_smallRequests + 1}.");
        }

        var download = new ArrayBufferWriter<byte>();
        FrameWriter.WriteHeaders(download, DownloadStreamId, Requests.Get(port, Requests.DownloadPath, "u=7"));
        long downloadStart = Stopwatch.GetTimestamp();
        connection.Send(download.WrittenSpan);

        string smallFigures = "";
        if (_smallRequests > 0)
        {
            await connection.WaitAsync(_downloadUnderWay.Task, Timeout);
            var batch = new ArrayBufferWriter<byte>();
            byte[] block = Requests.Get(port, Requests.SmallPath, "u=0");
            for (int i = 0; i < _smallRequests; i++)
            {
                FrameWriter.WriteHeaders(batch, FirstSmallStreamId + (2 * i), block);
            }

            long sent = Stopwatch.GetTimestamp();
            connection.Send(batch.WrittenSpan);
            await connection.WaitAsync(_smallRequestsEnded.Task, Timeout);
            double[] milliseconds = [.. _smallEndTimestamps.Select(end => Stopwatch.GetElapsedTime(sent, end).TotalMilliseconds).Order()];
            smallFigures = string.Create(
                CultureInfo.InvariantCulture,
                $" small_p50_ms={Percentile(milliseconds, 0.50):F1} small_p99_ms={Percentile(milliseconds, 0.99):F1} small_max_ms={milliseconds[^1]:F1}");
        }

        await connection.WaitAsync(_downloadEnded.Task, Timeout);
        if (_downloadBytes != Requests.DownloadSize)
        {
            throw new InvalidOperationException($"The download ended after {_downloadBytes} bytes, not {Requests.DownloadSize}.");
        }

        double megabytesPerSecond = _downloadBytes / Stopwatch.GetElapsedTime(downloadStart, _downloadEndTimestamp).TotalSeconds / 1e6;
        string name = _smallRequests > 0 ? "p1" : "solo";
        return string.Create(CultureInfo.InvariantCulture, $"{name} port={port}{smallFigures} download_MBps={megabytesPerSecond:F2}");
    }

    public void OnData(int streamId, int length)
    {
        if (streamId == DownloadStreamId && (_downloadBytes += length) >= SmallRequestsAfterBytes)
        {
            _downloadUnderWay.TrySetResult();
        }
    }

    public void OnEnd(int streamId, long timestamp)
    {
        if (streamId == DownloadStreamId)
        {
            _downloadEndTimestamp = timestamp;
            _downloadEnded.TrySetResult();
            return;
        }

        _smallEndTimestamps[(streamId - FirstSmallStreamId) / 2] = timestamp;
        if (--_smallRequestsPending == 0)
        {
            _smallRequestsEnded.TrySetResult();
        }
    }

    /// <summary>The nearest-rank percentile of sorted values.</summary>
    private static double Percentile(double[] sorted, double fraction) =>
        sorted[Math.Max(0, (int)Math.Ceiling(fraction * sorted.Length) - 1)];
}
