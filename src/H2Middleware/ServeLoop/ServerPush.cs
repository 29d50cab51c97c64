using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Protocol;
using H2Middleware.Scheduling;
using H2Middleware.Streams;

namespace H2Middleware.ServeLoop;

/// <summary>
/// Server push on the serve loop (RFC 9113 §8.4). It tracks whether the connection may push (the client's
/// SETTINGS_ENABLE_PUSH, a GOAWAY either way) and publishes that to handlers; it checks each handler's push against
/// the connection's state, reserves the promised stream under the next even id and owes the client its PUSH_PROMISE;
/// once the promise is written, the promised request runs through the application like any other. Pushed streams count
/// against <see cref="Http2ServeLoopOptions.MaxConcurrentPushes"/> and the client's SETTINGS_MAX_CONCURRENT_STREAMS,
/// never against the limit on the client's own streams.
/// </summary>
internal sealed class ServerPush : IPushPromiseEvents
{
    private readonly int _maxConcurrentPushes;
    private readonly ConnectionPort _port;
    private readonly StreamTable _streams;
    private readonly HandlerSlots _handlers;
    private readonly StreamCoordinator _coordinator;
    private readonly IWriteScheduler _scheduler;
    private bool _clientTurnedPushOff;
    private bool _goAway;
    private uint _clientMaxConcurrentStreams = uint.MaxValue;

    public ServerPush(
        Http2ServeLoopOptions options,
        ConnectionPort port,
        StreamTable streams,
        HandlerSlots handlers,
        StreamCoordinator coordinator,
        FrameOutput output,
        ResponseFieldEncoder fields)
    {
        _maxConcurrentPushes = options.MaxConcurrentPushes;
        _port = port;
        _streams = streams;
        _handlers = handlers;
        _coordinator = coordinator;
        _scheduler = coordinator.SendQueue.Scheduler;
        Promises = new PushPromiseQueue(output, fields, this);
    }

    /// <summary>The PUSH_PROMISE frames owed to the client; the write pass sends them.</summary>
    public PushPromiseQueue Promises { get; }

    /// <summary>The highest stream id we have promised (0 before the first push): even ids above it are idle.</summary>
    public int HighestPromisedId { get; private set; }

    /// <summary>The client's SETTINGS_ENABLE_PUSH (RFC 9113 §6.5.2): after a 0, no PUSH_PROMISE may be sent, even one already owed.</summary>
    public void OnClientEnablePush(uint value)
    {
        _clientTurnedPushOff = value == 0;
        Publish();
        if (_clientTurnedPushOff)
        {
            Promises.DropAll("the client turned push off");
        }
    }

    /// <summary>The client's SETTINGS_MAX_CONCURRENT_STREAMS: how many streams we may open, that is, push.</summary>
    public void OnClientMaxConcurrentStreams(uint value) => _clientMaxConcurrentStreams = value;

    /// <summary>A GOAWAY was sent (ours, or ours in answer to the client's): no more pushes, not even those owed.</summary>
    public void OnGoAway()
    {
        _goAway = true;
        Publish();
        Promises.DropAll("the connection is going away (GOAWAY)");
    }

    /// <summary>A handler asks to push: refused, or the promised stream is reserved and its PUSH_PROMISE owed.</summary>
    /// <param name="sendWindow">The client's SETTINGS_INITIAL_WINDOW_SIZE, the promised stream's send window.</param>
    public void OnRequested(PushRequest request, int sendWindow)
    {
        StreamEntry? parent = _streams.FindOpen(request.ParentStreamId);
        if (Refusal(parent, request.ParentStreamId) is { } refusal)
        {
            request.Refuse(refusal);
            return;
        }

        HighestPromisedId += 2;
        StreamEntry promised = _streams.Reserve(HighestPromisedId, sendWindow);
        promised.Stream.InitializePushedRequest(request);
        _scheduler.OnStreamOpened(promised);
        Promises.Enqueue(new PushPromise(parent!, parent!.StreamId, promised, promised.StreamId, request));
    }

    void IPushPromiseEvents.OnPromiseWritten(in PushPromise promise)
    {
        _handlers.Start(promise.Promised);
        promise.Request.Complete();
    }

    void IPushPromiseEvents.OnPromiseDropped(in PushPromise promise, string reason)
    {
        if (promise.PromisedIsReserved)
        {
            _coordinator.CloseUnannounced(promise.Promised);
        }

        promise.Request.Refuse(reason);
    }

    /// <summary>Why the connection cannot push now (RFC 9113 §6.6, §8.4), or null.</summary>
    private string? Refusal(StreamEntry? parent, int parentId)
    {
        if (_port.PushUnavailableReason is { } unavailable)
        {
            return unavailable;
        }

        if ((parentId & 1) == 0 || parent is null || parent.LocalClosed)
        {
            // PUSH_PROMISE goes only on a client's stream that is open or half-closed (remote).
            return "the request's stream has ended";
        }

        if (_streams.PushedCount >= _maxConcurrentPushes)
        {
            return $"{_maxConcurrentPushes} pushed streams are in progress (Http2ServeLoopOptions.MaxConcurrentPushes)";
        }

        if ((uint)_streams.PushedCount >= _clientMaxConcurrentStreams)
        {
            return $"the client allows {_clientMaxConcurrentStreams} concurrent pushed streams (SETTINGS_MAX_CONCURRENT_STREAMS)";
        }

        return HighestPromisedId + 2L > Http2Limits.MaxStreamId ? "the connection has used every stream id it may push on" : null;
    }

    private void Publish() =>
        _port.PushUnavailableReason = _goAway ? "the connection is going away (GOAWAY)"
            : _clientTurnedPushOff ? "the client turned push off (SETTINGS_ENABLE_PUSH = 0)"
            : null;
}
