using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>The request's Activity is hosting's; the engine adds the stream and connection that carried it.</summary>
public class TracingTests
{
    /// <summary>Listens to hosting's ActivitySource, sampling as told.</summary>
    private static ActivityListener Listen(ActivitySamplingResult sampling)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => sampling,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    /// <summary>Makes two requests on one connection; returns each one's Activity (as the handler saw it) and connection id.</summary>
    private static async Task<List<(Activity? Activity, string ConnectionId)>> TwoRequestsAsync()
    {
        var seen = new List<(Activity?, string)>();
        await using var host = await KestrelTestHost.StartAsync(app => app.MapGet("/", (HttpContext context) =>
        {
            lock (seen)
            {
                seen.Add((Activity.Current, context.Features.Get<IHttpConnectionFeature>()!.ConnectionId));
            }

            return "ok";
        }));
        using HttpClient client = host.CreateHttp2Client();
        await client.GetStringAsync("/");
        await client.GetStringAsync("/");
        return seen;
    }

    [Fact]
    public async Task ARecordedRequestActivityCarriesItsStreamAndConnection()
    {
        using ActivityListener listener = Listen(ActivitySamplingResult.AllDataAndRecorded);

        List<(Activity? Activity, string ConnectionId)> seen = await TwoRequestsAsync();

        Assert.Equal([1, 3], seen.Select(s => s.Activity!.GetTagItem("http2.stream_id")));
        Assert.All(seen, s => Assert.Equal(s.ConnectionId, s.Activity!.GetTagItem("http2.connection_id")));
        Assert.Equal("Microsoft.AspNetCore.Hosting.HttpRequestIn", seen[0].Activity!.OperationName);
    }

    [Fact]
    public async Task AnActivityThatOnlyPropagatesGetsNoTags()
    {
        using ActivityListener listener = Listen(ActivitySamplingResult.PropagationData);

        List<(Activity? Activity, string ConnectionId)> seen = await TwoRequestsAsync();

        Assert.All(seen, s =>
        {
            Assert.Null(s.Activity!.GetTagItem("http2.stream_id"));
            Assert.Null(s.Activity.GetTagItem("http2.connection_id"));
        });
    }
}
