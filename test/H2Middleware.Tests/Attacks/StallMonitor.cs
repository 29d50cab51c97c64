using System.Diagnostics;

namespace H2Middleware.Tests.Attacks;

/// <summary>
/// Tells where a slow probe request came from. A dedicated thread wakes every 10 ms and records the longest gap
/// between wake-ups (the whole process was not scheduled: other processes on the machine) and the longest wait of a
/// work item it queues to the thread pool (the pool was starved: blocked or too few threads in this process).
/// </summary>
internal sealed class StallMonitor : IDisposable
{
    private readonly Thread _thread;
    private volatile bool _stop;
    private long _maxGapTicks;
    private long _maxDispatchTicks;
    private long _maxDispatchAt;
    private readonly long _start = Stopwatch.GetTimestamp();

    public StallMonitor()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "attack stall monitor" };
        _thread.Start();
    }

    /// <summary>The longest time the monitor's own thread went without running, beyond its 10 ms sleep.</summary>
    public double MaxSchedulingGapMs => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _maxGapTicks)).TotalMilliseconds;

    /// <summary>The longest a work item waited in the thread pool's queue before it ran.</summary>
    public double MaxThreadPoolDelayMs => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _maxDispatchTicks)).TotalMilliseconds;

    /// <summary>When the longest thread-pool wait began, since the monitor started.</summary>
    public double MaxThreadPoolDelayAtMs => Stopwatch.GetElapsedTime(_start, Interlocked.Read(ref _maxDispatchAt)).TotalMilliseconds;

    private void Run()
    {
        long last = Stopwatch.GetTimestamp();
        long sleep = Stopwatch.Frequency / 100;
        while (!_stop)
        {
            Thread.Sleep(10);
            long now = Stopwatch.GetTimestamp();
            Max(ref _maxGapTicks, now - last - sleep);
            last = now;
            ThreadPool.UnsafeQueueUserWorkItem(
                queuedAt =>
                {
                    if (Max(ref _maxDispatchTicks, Stopwatch.GetTimestamp() - queuedAt))
                    {
                        Interlocked.Exchange(ref _maxDispatchAt, queuedAt);
                    }
                },
                now,
                preferLocal: false);
        }
    }

    /// <summary>Raises target to value; true if it did.</summary>
    private static bool Max(ref long target, long value)
    {
        long current;
        while ((current = Interlocked.Read(ref target)) < value)
        {
            if (Interlocked.CompareExchange(ref target, value, current) == current)
            {
                return true;
            }
        }

        return false;
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
    }
}
