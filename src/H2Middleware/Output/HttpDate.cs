using System.Globalization;
using H2Middleware.ServeLoop;

namespace H2Middleware.Output;

/// <summary>
/// The <c>date</c> response header value (RFC 9110 §6.6.1) as one connection sees it: the wall clock is read only once
/// the loop's batch clock says the second may have changed, not for every response, and the formatted value is shared
/// by every connection (one string a second for the process, none kept per connection).
/// </summary>
internal sealed class HttpDate(TimeProvider time, LoopClock clock)
{
    private sealed record Stamp(long UnixSecond, string Value);

    private static volatile Stamp? s_latest;

    private Stamp? _current;
    private long _validUntil;

    public string Current
    {
        get
        {
            if (_current is null || clock.Now >= _validUntil)
            {
                DateTimeOffset now = time.GetUtcNow();
                _current = Format(now);
                long ticksToNextSecond = TimeSpan.TicksPerSecond - (now.UtcTicks % TimeSpan.TicksPerSecond);
                _validUntil = clock.Now + (long)(ticksToNextSecond * ((double)time.TimestampFrequency / TimeSpan.TicksPerSecond));
            }

            return _current.Value;
        }
    }

    private static Stamp Format(DateTimeOffset now)
    {
        long second = now.ToUnixTimeSeconds();
        Stamp? latest = s_latest;
        if (latest is null || latest.UnixSecond != second)
        {
            latest = new Stamp(second, now.ToString("r", CultureInfo.InvariantCulture));
            s_latest = latest;
        }

        return latest;
    }
}
