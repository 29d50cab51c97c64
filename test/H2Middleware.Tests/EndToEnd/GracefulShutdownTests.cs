using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace H2Middleware.Tests.EndToEnd;

public class GracefulShutdownTests
{
    [Fact]
    public async Task StoppingKestrelLetsInFlightRequestsFinish()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        KestrelTestHost host = await KestrelTestHost.StartAsync(app => app.MapGet("/slow", async (HttpContext context) =>
        {
            started.TrySetResult();
            await release.Task;
            return "finished";
        }));
        using HttpClient client = host.CreateHttp2Client();

        Task<string> inFlight = client.GetStringAsync("/slow");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        ValueTask stopping = host.DisposeAsync();
        await Task.Delay(200);
        Assert.False(inFlight.IsCompleted);

        release.SetResult();
        Assert.Equal("finished", await inFlight.WaitAsync(TimeSpan.FromSeconds(10)));
        await stopping.AsTask().WaitAsync(TimeSpan.FromSeconds(15));
    }
}
