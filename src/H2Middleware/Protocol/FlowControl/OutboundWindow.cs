using H2Middleware.Frames;

namespace H2Middleware.Protocol;

/// <summary>
/// The client's receive window as we see it, for a stream or the connection (RFC 9113 §6.9): how much DATA we may
/// still send. It never exceeds 2^31−1 (§6.9.1) and may go negative when SETTINGS_INITIAL_WINDOW_SIZE shrinks (§6.9.2).
/// </summary>
internal sealed class OutboundWindow
{
    public OutboundWindow(long size = 0) => Reset(size);

    /// <summary>How much DATA we may still send; negative after a shrinking SETTINGS change.</summary>
    public long Available { get; private set; }

    public void Reset(long size) => Available = size;

    /// <summary>DATA we sent.</summary>
    public void Consume(long bytes) => Available -= bytes;

    /// <summary>A WINDOW_UPDATE; false (and nothing changed) when it would take the window above 2^31−1.</summary>
    public bool TryIncrease(int increment) => TryChange(increment);

    /// <summary>SETTINGS_INITIAL_WINDOW_SIZE changed by <paramref name="delta"/>; false (and nothing changed) when the window would exceed 2^31−1.</summary>
    public bool TryApplyInitialSizeChange(long delta) => TryChange(delta);

    private bool TryChange(long delta)
    {
        if (Available + delta > Http2Limits.MaxWindowSize)
        {
            return false;
        }

        Available += delta;
        return true;
    }
}
