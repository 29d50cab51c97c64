namespace H2Middleware.Tests.EndToEnd;

/// <summary>Bounds an end-to-end exchange in time, so a flow-control hang fails its test instead of stalling the suite.</summary>
internal static class HangGuard
{
    public static readonly TimeSpan DefaultLimit = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Runs <paramref name="exchange"/> with a token cancelled after the limit; if it has not finished by then it fails
    /// with a <see cref="TimeoutException"/> that says how far it got (<paramref name="progress"/>).
    /// </summary>
    public static async Task RunAsync(Func<CancellationToken, Task> exchange, Func<string>? progress = null, TimeSpan? limit = null)
    {
        TimeSpan bound = limit ?? DefaultLimit;
        using var cancel = new CancellationTokenSource(bound);
        try
        {
            // The token should end the exchange; the extra grace also catches an exchange that ignores it.
            await exchange(cancel.Token).WaitAsync(bound + TimeSpan.FromSeconds(10));
        }
        catch (Exception error) when (cancel.IsCancellationRequested)
        {
            string where = progress is null ? "" : $" ({progress()})";
            throw new TimeoutException($"The exchange did not complete within {bound.TotalSeconds:0} s{where}: it hung.", error);
        }
    }
}
