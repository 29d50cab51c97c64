using System.Collections;
using System.Runtime.CompilerServices;
using H2Middleware.Scheduling;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace H2Middleware.Streams;

/// <summary>
/// The stream is its own feature collection: every feature it implements answers from the stream itself
/// (no per-request allocations), features set by middleware live in a small list, and anything else falls
/// back to the connection's features (TLS, endpoints), as under Kestrel.
/// </summary>
internal partial class Http2Stream : IFeatureCollection
{
    private readonly List<KeyValuePair<Type, object?>> _setFeatures = [];
    private int _featureRevision;

    bool IFeatureCollection.IsReadOnly => false;

    int IFeatureCollection.Revision => _featureRevision;

    public object? this[Type key]
    {
        get
        {
            foreach (var (type, feature) in _setFeatures)
            {
                if (type == key)
                {
                    return feature;
                }
            }

            return GetOwnFeature(key) ?? _port.ConnectionFeatures[key];
        }
        set
        {
            _featureRevision++;
            for (int i = 0; i < _setFeatures.Count; i++)
            {
                if (_setFeatures[i].Key == key)
                {
                    _setFeatures[i] = new(key, value);
                    return;
                }
            }

            _setFeatures.Add(new(key, value));
        }
    }

    public TFeature? Get<TFeature>()
    {
        if (OwnFeature<TFeature>.IsOwn && !IsOverridden(typeof(TFeature)))
        {
            // The stream implements the feature: no search through the feature types and no cast check.
            Http2Stream self = this;
            return Unsafe.As<Http2Stream, TFeature>(ref self);
        }

        return (TFeature?)this[typeof(TFeature)];
    }

    /// <summary>Whether the stream itself provides <typeparamref name="TFeature"/>, worked out once per feature type.</summary>
    private static class OwnFeature<TFeature>
    {
        public static readonly bool IsOwn = Array.IndexOf(OwnFeatureTypes, typeof(TFeature)) >= 0;
    }

    public void Set<TFeature>(TFeature? instance) => this[typeof(TFeature)] = instance;

    private object? GetOwnFeature(Type key)
    {
        // Runtime types are unique objects: a reference comparison is the whole test, no virtual Equals per entry.
        foreach (Type own in OwnFeatureTypes)
        {
            if (ReferenceEquals(own, key))
            {
                return this;
            }
        }

        return null;
    }

    IEnumerator<KeyValuePair<Type, object>> IEnumerable<KeyValuePair<Type, object>>.GetEnumerator()
    {
        foreach (var (type, feature) in _setFeatures)
        {
            if (feature is not null)
            {
                yield return new(type, feature);
            }
        }

        foreach (Type type in OwnFeatureTypes)
        {
            if (!IsOverridden(type))
            {
                yield return new(type, this);
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => ((IEnumerable<KeyValuePair<Type, object>>)this).GetEnumerator();

    private static readonly Type[] OwnFeatureTypes =
    [
        typeof(IHttpRequestFeature), typeof(IHttpResponseFeature), typeof(IHttpResponseBodyFeature), typeof(IRequestBodyPipeFeature),
        typeof(IHttpRequestBodyDetectionFeature), typeof(IHttpRequestIdentifierFeature), typeof(IHttpConnectionFeature),
        typeof(IHttpRequestLifetimeFeature), typeof(IHttpResponseTrailersFeature), typeof(IHttpRequestTrailersFeature),
        typeof(IHttpResetFeature), typeof(IHttpMaxRequestBodySizeFeature), typeof(IHttpBodyControlFeature),
        typeof(IHttp2StreamIdFeature), typeof(IHttp2StreamPriorityFeature), typeof(IHttpMinRequestBodyDataRateFeature),
        typeof(IHttpMinResponseDataRateFeature), typeof(IHttpExtendedConnectFeature), typeof(IHttp2StreamSchedulingFeature),
        typeof(IHttp2ServerPushFeature),
    ];

    private bool IsOverridden(Type type)
    {
        foreach (var (setType, _) in _setFeatures)
        {
            if (setType == type)
            {
                return true;
            }
        }

        return false;
    }
}
