using H2Middleware.Telemetry;

namespace H2Middleware.ServeLoop;

/// <summary>
/// How much misbehaviour a connection tolerates. Every client error that costs us work without progress (see
/// <see cref="ConnectionEndReason"/>) draws one unit; every response completed gives one back, up to the capacity.
/// A client that runs the budget dry is flooding us with errors (MadeYouReset, CVE-2019-9514 and friends) and is cut
/// off with GOAWAY(ENHANCE_YOUR_CALM); one that makes progress between occasional errors never is.
/// </summary>
internal sealed class ClientErrorBudget(int capacity, ConnectionMetrics metrics)
{
    private readonly int _capacity = capacity;
    private int _remaining = capacity;

    /// <summary>Draws one unit for the cause; false once the budget is exhausted.</summary>
    public bool TryDraw(ConnectionEndReason cause)
    {
        metrics.ClientError(cause);
        return --_remaining >= 0;
    }

    public void Refill()
    {
        if (_remaining < _capacity)
        {
            _remaining++;
        }
    }
}
