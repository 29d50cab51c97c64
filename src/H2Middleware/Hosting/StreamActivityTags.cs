using System.Diagnostics;
using H2Middleware.Streams;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Hosting;

/// <summary>
/// The request's Activity is the host's (hosting starts it in <c>CreateContext</c>, as under Kestrel); the engine only
/// adds what hosting cannot know: which HTTP/2 stream of which connection carried the request, so a trace can be
/// matched to the engine's logs and to a client's view of the connection. Only for an Activity that records its data.
/// </summary>
internal static class StreamActivityTags
{
    public const string StreamId = "http2.stream_id";
    public const string ConnectionId = "http2.connection_id";

    public static void AddTo(Activity? activity, Http2Stream stream)
    {
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(StreamId, stream.StreamId);
            activity.SetTag(ConnectionId, ((IHttpConnectionFeature)stream).ConnectionId);
        }
    }
}
