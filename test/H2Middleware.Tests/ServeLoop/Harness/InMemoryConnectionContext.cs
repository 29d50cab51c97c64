using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace H2Middleware.Tests.ServeLoop.Harness;

/// <summary>A Kestrel-like connection whose transport is a pair of in-memory pipes.</summary>
internal sealed class InMemoryConnectionContext : ConnectionContext, IConnectionLifetimeNotificationFeature
{
    private readonly CancellationTokenSource _closed = new();
    private readonly CancellationTokenSource _closeRequested = new();

    public InMemoryConnectionContext(IDuplexPipe transport, bool alpnH2, MemoryPool<byte>? memoryPool = null)
    {
        Transport = transport;
        Features.Set<IConnectionLifetimeNotificationFeature>(this);
        if (memoryPool is not null)
        {
            Features.Set<IMemoryPoolFeature>(new PoolFeature(memoryPool));
        }

        if (alpnH2)
        {
            Features.Set<ITlsApplicationProtocolFeature>(new NegotiatedProtocol());
        }
    }

    private sealed class PoolFeature(MemoryPool<byte> pool) : IMemoryPoolFeature
    {
        public MemoryPool<byte> MemoryPool { get; } = pool;
    }

    /// <summary>What Kestrel's TLS middleware reports after ALPN chose h2.</summary>
    private sealed class NegotiatedProtocol : ITlsApplicationProtocolFeature
    {
        public ReadOnlyMemory<byte> ApplicationProtocol => "h2"u8.ToArray();
    }

    public override string ConnectionId { get; set; } = "test-connection";

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException();
    }

    public override EndPoint? LocalEndPoint { get; set; } = new IPEndPoint(IPAddress.Loopback, 443);

    public override EndPoint? RemoteEndPoint { get; set; } = new IPEndPoint(IPAddress.Loopback, 50_000);

    public CancellationToken ConnectionClosedRequested
    {
        get => _closeRequested.Token;
        set => throw new NotSupportedException();
    }

    public void RequestClose() => _closeRequested.Cancel();

    public override void Abort(ConnectionAbortedException abortReason) => _closed.Cancel();
}
