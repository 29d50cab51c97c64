using H2Middleware.Frames;
using H2Middleware.Telemetry;
using H2Middleware.Tests.ServeLoop.Harness;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Tests.Telemetry;

/// <summary>The tags the engine hands Kestrel for <c>kestrel.connection.duration</c>, read from the connection's feature.</summary>
public class KestrelConnectionTagsTests
{
    private static async Task<List<KeyValuePair<string, object?>>> TagsOfAConnectionAsync(Func<Http2TestClient, Task> play, Action<Http2ServeLoopOptions>? configure = null)
    {
        var feature = new TagsFeature();
        await using (Http2TestClient client = Http2TestClient.Start(context => Task.CompletedTask, configure, connectionFeatures: f => f.Set<IConnectionMetricsTagsFeature>(feature)))
        {
            await client.HandshakeAsync();
            await play(client);
        }

        return feature.List;
    }

    [Fact]
    public async Task AConnectionServedAsHttp2SaysSoAndAGracefulEndIsNoError()
    {
        List<KeyValuePair<string, object?>> tags = await TagsOfAConnectionAsync(async client =>
        {
            await client.SendGetAsync(1);
            await client.ReadResponseAsync(1);
            client.Connection.RequestClose();
            await client.ExpectGracefulGoAwayAsync();
            await client.ExpectConnectionClosedAsync();
        });

        Assert.Equal([new("network.protocol.name", "http"), new("network.protocol.version", "2")], tags);
    }

    [Fact]
    public async Task AConnectionErrorIsTheErrorTypeByItsConnectionEndReason()
    {
        List<KeyValuePair<string, object?>> tags = await TagsOfAConnectionAsync(
            async client =>
            {
                await client.SendRawHeadersAsync(1, Http2TestClient.RequestHeaders("GET", "/", ("Upper-Case", "x")), endStream: true);
                await client.ExpectGoAwayAsync(Http2ErrorCode.EnhanceYourCalm);
                await client.ExpectConnectionClosedAsync();
            },
            o => o.ClientErrorBudget = 0);

        Assert.Contains(new("error.type", "InvalidRequestHeaders"), tags);
    }

    [Fact]
    public async Task AConnectionErrorWithoutAReasonNameIsTheErrorTypeByItsErrorCode()
    {
        List<KeyValuePair<string, object?>> tags = await TagsOfAConnectionAsync(async client =>
        {
            await client.SendDataAsync(1, "no such stream", endStream: true);
            await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
            await client.ExpectConnectionClosedAsync();
        });

        Assert.Contains(new("error.type", "ProtocolError"), tags);
    }

    [Fact]
    public void TheFirstErrorWins()
    {
        var features = new FeatureCollection();
        var feature = new TagsFeature();
        features.Set<IConnectionMetricsTagsFeature>(feature);

        KestrelConnectionTags.SetErrorType(features, "ControlFrameFlood");
        KestrelConnectionTags.SetErrorType(features, ConnectionEndTags.TransportFailed);

        Assert.Equal([new("error.type", "ControlFrameFlood")], feature.List);
    }

    /// <summary>What Kestrel's connection offers: a list of tags it adds to the connection's duration when it ends.</summary>
    private sealed class TagsFeature : IConnectionMetricsTagsFeature
    {
        public List<KeyValuePair<string, object?>> List { get; } = [];

        public ICollection<KeyValuePair<string, object?>> Tags => List;
    }
}
