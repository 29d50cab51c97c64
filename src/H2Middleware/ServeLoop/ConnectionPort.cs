using System.Buffers;
using System.Net;
using System.Threading.Channels;
using H2Middleware.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace H2Middleware.ServeLoop;

/// <summary>
/// What a stream's handler side may use of its connection: facts fixed for the connection's life, whether it can still
/// push (published by the serve loop), and the serve loop's inbox. It is the only part of the connection that
/// handler-side code holds, so the loop's state is out of its reach; everything the handler side has to tell the loop
/// goes through <see cref="Post"/>.
/// </summary>
internal sealed class ConnectionPort(
    ChannelWriter<ServeLoopMessage> inbox,
    string connectionId,
    IFeatureCollection connectionFeatures,
    EndPoint? localEndPoint,
    EndPoint? remoteEndPoint,
    MemoryPool<byte> memoryPool,
    Http2ServeLoopOptions options,
    StreamApplication application,
    ILogger logger)
{
    public string ConnectionId => connectionId;

    public IFeatureCollection ConnectionFeatures => connectionFeatures;

    public EndPoint? LocalEndPoint => localEndPoint;

    public EndPoint? RemoteEndPoint => remoteEndPoint;

    public MemoryPool<byte> MemoryPool => memoryPool;

    public Http2ServeLoopOptions Options => options;

    public StreamApplication Application => application;

    public ILogger Logger => logger;

    private volatile string? _pushUnavailableReason;

    /// <summary>
    /// Why the connection can promise no more pushes (the client's SETTINGS_ENABLE_PUSH = 0, a GOAWAY), or null:
    /// written by the serve loop, read by handlers before they ask it to push.
    /// </summary>
    public string? PushUnavailableReason
    {
        get => _pushUnavailableReason;
        set => _pushUnavailableReason = value;
    }

    /// <summary>Hands a message to the serve loop. Safe from any thread; ignored once the loop has stopped.</summary>
    public void Post(in ServeLoopMessage message) => inbox.TryWrite(message);

    /// <summary>Hands a message to the serve loop; false when the loop has stopped and will never read it.</summary>
    public bool TryPost(in ServeLoopMessage message) => inbox.TryWrite(message);
}
