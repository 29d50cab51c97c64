using System.Globalization;
using H2Middleware.ServeLoop;

namespace H2Middleware.Output;

/// <summary>
/// The <c>date</c> response header value (RFC 9110 §6.6.1) of one connection: formatted when the second changes, and the
/// wall clock read only once the loop's batch clock says the second may have changed, not for every response.
/// </summary>
internal sealed class HttpDate(TimeProvider time, LoopClock clock)
{
    private string? _value;
    private long _validUntil;

    public string Current
    {
        get
        {
            if (_value is null || clock.Now >= _validUntil)
            {
                DateTimeOffset now = time.GetUtcNow();
                _value = now.ToString("r", CultureInfo.InvariantCulture);
                long ticksToNextSecond = TimeSpan.TicksPerSecond - (now.UtcTicks % TimeSpan.TicksPerSecond);
                _validUntil = clock.Now + (long)(ticksToNextSecond * ((double)time.TimestampFrequency / TimeSpan.TicksPerSecond));
            }

            return _value;
        }
    }
}
