namespace H2Middleware.Output;

/// <summary>The <c>date</c> response header value (RFC 9110 §6.6.1), formatted once per second and shared.</summary>
internal static class HttpDate
{
    private sealed record Stamp(long UnixSecond, string Value);

    private static volatile Stamp? s_current;

    public static string Current(TimeProvider timeProvider)
    {
        DateTimeOffset now = timeProvider.GetUtcNow();
        long second = now.ToUnixTimeSeconds();
        Stamp? stamp = s_current;
        if (stamp is null || stamp.UnixSecond != second)
        {
            stamp = new Stamp(second, now.ToString("r", System.Globalization.CultureInfo.InvariantCulture));
            s_current = stamp;
        }

        return stamp.Value;
    }
}
