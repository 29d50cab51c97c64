using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Protocol;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace H2Middleware.ServeLoop;

/// <summary>
/// Minimum data rates, as Kestrel enforces them (slow-body and slow-read attacks): once a second, while streams are
/// open, each stream is charged the time it spent waiting on its client (the handler waiting for body bytes, or
/// response bytes held back by the client's window or by a transport that does not drain); past the grace period, a
/// stream whose client sent or took fewer bytes than the rate asks for that time is too slow: its handler's body read
/// fails with 408, or its response is reset.
/// </summary>
internal sealed class DataRateMonitor(
    TimeProvider time, StreamTable streams, RequestBodyFlow requestBodies, StreamCoordinator coordinator, WritePass writePass, ILogger logger, string connectionId)
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private long _checkedAt;

    /// <summary>Checks are due once a second while streams are open.</summary>
    public bool IsRunning { get; private set; }

    /// <summary>Starts the checks if they are not running; true when the caller must arm the timer.</summary>
    public bool Start()
    {
        if (IsRunning)
        {
            return false;
        }

        IsRunning = true;
        _checkedAt = time.GetTimestamp();
        return true;
    }

    /// <summary>Charges every open stream for the time since the last check; true while checks must go on.</summary>
    public bool Check()
    {
        TimeSpan elapsed = time.GetElapsedTime(_checkedAt);
        _checkedAt = time.GetTimestamp();
        foreach (StreamEntry stream in streams.Entries)
        {
            if (stream.IsClosed)
            {
                continue;
            }

            if (RequestBodyTooSlow(stream, elapsed))
            {
                Http2Log.DataRateTooLow(logger, connectionId, stream.StreamId, "request body", stream.RequestBodyReceived, stream.RequestBodyWaitTime);
                stream.Stream.FailRequestBodyTooSlow();
                requestBodies.StopReceiving(stream);
            }

            if (ResponseTooSlow(stream, elapsed, writePass.FlushInFlight))
            {
                Http2Log.DataRateTooLow(logger, connectionId, stream.StreamId, "response", stream.ResponseBytesSent, stream.ResponseBlockedTime);
                coordinator.Reset(stream, Http2ErrorCode.EnhanceYourCalm, "the client took the response too slowly");
            }
        }

        // The checks go on only while streams are open.
        IsRunning = streams.OpenCount > 0;
        return IsRunning;
    }

    /// <summary>Charges the stream's handler for waiting on body bytes; true when the client sends them too slowly.</summary>
    /// <remarks>
    /// An interval counts whole if the handler waited at any moment in it, as under Kestrel: sampling only the state at
    /// the check would let a client that sends a byte just before each check dodge every charge.
    /// </remarks>
    private static bool RequestBodyTooSlow(StreamEntry stream, TimeSpan elapsed)
    {
        bool handlerReads = stream.ApplicationStarted && !stream.ApplicationCompleted && !stream.RemoteClosed && !stream.DiscardingRequestBody
            && stream.Stream.IsReadingRequestBody;
        // It waits now when it has examined all that arrived.
        bool waitsNow = handlerReads && stream.RequestBodyExamined >= stream.RequestBodyDelivered;
        bool waited = handlerReads && (waitsNow || stream.RequestBodyWaitedSinceCheck);
        stream.RequestBodyWaitedSinceCheck = waitsNow;
        if (!waited || stream.Stream.MinRequestBodyDataRate is not { } rate)
        {
            return false;
        }

        stream.RequestBodyWaitTime += elapsed;
        return IsBelowRate(rate, stream.RequestBodyWaitTime, stream.RequestBodyReceived);
    }

    /// <summary>Charges the response for data the client holds back; true when it takes the response too slowly.</summary>
    private static bool ResponseTooSlow(StreamEntry stream, TimeSpan elapsed, bool flushInFlight)
    {
        // Response bytes wait on the client: for its window, or for a flush the transport does not complete.
        bool clientHoldsData = stream.ResponseHeadersSent && !stream.LocalClosed
            && (stream.IsWaitingForWindow || (stream.IsScheduled && flushInFlight));
        if (!clientHoldsData || stream.Stream.MinResponseDataRate is not { } rate)
        {
            return false;
        }

        stream.ResponseBlockedTime += elapsed;
        return IsBelowRate(rate, stream.ResponseBlockedTime, stream.ResponseBytesSent);
    }

    private static bool IsBelowRate(MinDataRate rate, TimeSpan time, long bytes) =>
        time > rate.GracePeriod && bytes < rate.BytesPerSecond * time.TotalSeconds;
}
