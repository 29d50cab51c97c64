using H2Middleware.Frames;
using H2Middleware.Protocol;

namespace H2Middleware.ServeLoop;

/// <summary>
/// How many PING and SETTINGS frames (each of which we must acknowledge) and PRIORITY frames a client may send: a burst of
/// <see cref="Burst"/>, refilled at <see cref="PerSecond"/> a second. A client that reads our acknowledgements but
/// floods us anyway (CVE-2019-9512, CVE-2019-9515 with a reading attacker) empties it; no client we know of comes near.
/// </summary>
internal sealed class ControlFrameRateLimit(TimeProvider time)
{
    public const int Burst = 1_000;
    public const int PerSecond = 100;

    private double _tokens = Burst;
    private long _refilledAt = time.GetTimestamp();

    /// <summary>Takes one frame's token; a client that has sent more than the limit allows is a connection error.</summary>
    public void Take()
    {
        long now = time.GetTimestamp();
        _tokens = Math.Min(Burst, _tokens + time.GetElapsedTime(_refilledAt, now).TotalSeconds * PerSecond);
        _refilledAt = now;
        if (_tokens < 1)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, nameof(ConnectionEndReason.ControlFrameFlood));
        }

        _tokens--;
    }
}
