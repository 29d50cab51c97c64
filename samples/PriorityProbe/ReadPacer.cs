using System.Diagnostics;

namespace PriorityProbe;

/// <summary>
/// A token bucket on the bytes taken from the socket, so that the probe drains its connection like a link of a given
/// speed: the server's data then queues in the kernel and the server, as it would in front of a real bottleneck, and
/// what the server does with that queue is what the scenarios measure. A full bucket allows a short burst.
/// </summary>
internal sealed class ReadPacer(long bytesPerSecond, int burstBytes)
{
    /// <summary>Fewer bytes than this are not worth a system call; waiting for them keeps reads few and the rate exact.</summary>
    private const int MinimumRead = 4 * 1024;

    private double _tokens = burstBytes;
    private long _lastRefill = Stopwatch.GetTimestamp();

    /// <summary>Waits until a read is allowed and returns how many bytes it may take, at most <paramref name="maximum"/>.</summary>
    public int WaitForAllowance(int maximum)
    {
        int wanted = Math.Min(maximum, MinimumRead);
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            _tokens = Math.Min(burstBytes, _tokens + (bytesPerSecond * Stopwatch.GetElapsedTime(_lastRefill, now).TotalSeconds));
            _lastRefill = now;
            if (_tokens >= wanted)
            {
                return (int)Math.Min(_tokens, maximum);
            }

            Thread.Sleep(1);
        }
    }

    public void Consume(int bytes) => _tokens -= bytes;
}
