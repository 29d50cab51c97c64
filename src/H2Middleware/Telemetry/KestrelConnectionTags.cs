using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace H2Middleware.Telemetry;

/// <summary>
/// Keeps Kestrel's own connection metrics true for connections the engine serves. Kestrel tags
/// <c>kestrel.connection.duration</c> with the protocol and the error only from its own HTTP code, which never runs for
/// them; its connection's <see cref="IConnectionMetricsTagsFeature"/> takes the tags instead, and Kestrel adds them
/// when the connection ends. Without the feature (no Kestrel, or its metrics off) there is nothing to keep true.
/// </summary>
internal static class KestrelConnectionTags
{
    private const string ErrorType = "error.type";

    /// <summary>The connection speaks HTTP/2: <c>network.protocol.name</c> "http", <c>network.protocol.version</c> "2".</summary>
    public static void SetHttp2(IFeatureCollection connectionFeatures)
    {
        if (connectionFeatures.Get<IConnectionMetricsTagsFeature>()?.Tags is { } tags)
        {
            tags.Add(new("network.protocol.name", "http"));
            tags.Add(new("network.protocol.version", "2"));
        }
    }

    /// <summary>The connection ended abnormally: <c>error.type</c>, unless an earlier error already set it (the first cause wins, as in Kestrel).</summary>
    public static void SetErrorType(IFeatureCollection connectionFeatures, string errorType)
    {
        if (connectionFeatures.Get<IConnectionMetricsTagsFeature>()?.Tags is not { } tags)
        {
            return;
        }

        foreach (KeyValuePair<string, object?> tag in tags)
        {
            if (tag.Key == ErrorType)
            {
                return;
            }
        }

        tags.Add(new(ErrorType, errorType));
    }
}
