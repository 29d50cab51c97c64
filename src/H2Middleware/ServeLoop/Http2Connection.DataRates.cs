using H2Middleware.Frames;
using H2Middleware.Protocol;
using H2Middleware.Output;
using H2Middleware.Streams;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace H2Middleware.ServeLoop;

/// <summary>
/// Minimum data rates, as Kestrel enforces them (slow-body and slow-read attacks): once a second, while streams are
/// open, the loop adds the time each stream spent waiting on its client (the handler waiting for body bytes, or
/// response bytes held back by the client's window or by a transport that does not drain) and, past the grace period,
/// fails the streams whose client sent or took fewer bytes than the rate asks for that time.
/// </summary>
internal sealed partial class Http2Connection
{
    private static readonly TimeSpan DataRateInterval = TimeSpan.FromSeconds(1);

    private ITimer? _dataRateTimer;
    private long _dataRatesCheckedAt;
    private bool _dataRateChecksRunning;

    private void StartDataRateChecks()
    {
        if (_dataRateChecksRunning)
        {
            return;
        }

        _dataRateChecksRunning = true;
        _dataRatesCheckedAt = _time.GetTimestamp();
        _dataRateTimer ??= CreateTimer(ServeLoopTimer.DataRates, DataRateInterval);
        _dataRateTimer.Change(DataRateInterval, Timeout.InfiniteTimeSpan);
    }

    private void CheckDataRates()
    {
        TimeSpan elapsed = _time.GetElapsedTime(_dataRatesCheckedAt);
        _dataRatesCheckedAt = _time.GetTimestamp();
        foreach (StreamEntry stream in _streams.Values)
        {
            if (!stream.IsClosed)
            {
                CheckRequestBodyRate(stream, elapsed);
                CheckResponseRate(stream, elapsed);
            }
        }

        _dataRateChecksRunning = _openStreamCount > 0;
        if (_dataRateChecksRunning)
        {
            _dataRateTimer?.Change(DataRateInterval, Timeout.InfiniteTimeSpan);
        }
    }

    private void CheckRequestBodyRate(StreamEntry stream, TimeSpan elapsed)
    {
        // The handler waits for body bytes: it reads, and it has examined all that arrived.
        bool handlerWaits = stream.ApplicationStarted && !stream.ApplicationCompleted && !stream.RemoteClosed && !stream.DiscardingRequestBody
            && stream.Stream.IsReadingRequestBody && stream.RequestBodyExamined >= stream.RequestBodyDelivered;
        if (!handlerWaits || stream.Stream.MinRequestBodyDataRate is not { } rate)
        {
            return;
        }

        stream.RequestBodyWaitTime += elapsed;
        if (IsBelowRate(rate, stream.RequestBodyWaitTime, stream.RequestBodyReceived))
        {
            Http2Log.DataRateTooLow(Logger, ConnectionId, stream.StreamId, "request body", stream.RequestBodyReceived, stream.RequestBodyWaitTime);
            stream.Stream.FailRequestBodyTooSlow();
            StopReceivingBody(stream);
        }
    }

    private void CheckResponseRate(StreamEntry stream, TimeSpan elapsed)
    {
        // Response bytes wait on the client: for its window, or for a flush the transport does not complete.
        bool clientHoldsData = stream.ResponseHeadersSent && !stream.LocalClosed
            && (stream.IsWaitingForWindow || (stream.IsScheduled && _writePass.FlushInFlight));
        if (!clientHoldsData || stream.Stream.MinResponseDataRate is not { } rate)
        {
            return;
        }

        stream.ResponseBlockedTime += elapsed;
        if (IsBelowRate(rate, stream.ResponseBlockedTime, stream.ResponseBytesSent))
        {
            Http2Log.DataRateTooLow(Logger, ConnectionId, stream.StreamId, "response", stream.ResponseBytesSent, stream.ResponseBlockedTime);
            ResetStream(stream, Http2ErrorCode.EnhanceYourCalm, "the client took the response too slowly");
        }
    }

    private static bool IsBelowRate(MinDataRate rate, TimeSpan time, long bytes) =>
        time > rate.GracePeriod && bytes < rate.BytesPerSecond * time.TotalSeconds;
}
