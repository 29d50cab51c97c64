using H2Middleware.Frames;
using Microsoft.Extensions.Logging;

namespace H2Middleware.ServeLoop;

/// <summary>The engine's log messages, with stable event ids (category <c>H2Middleware</c>).</summary>
internal static partial class Http2Log
{
    public const string CategoryName = "H2Middleware";

    [LoggerMessage(1, LogLevel.Debug, "Connection {ConnectionId} started serving HTTP/2.")]
    public static partial void ConnectionStarted(ILogger logger, string connectionId);

    [LoggerMessage(2, LogLevel.Debug, "Connection {ConnectionId} stopped after {StreamCount} streams.")]
    public static partial void ConnectionStopped(ILogger logger, string connectionId, int streamCount);

    [LoggerMessage(3, LogLevel.Debug, "Connection {ConnectionId} sent GOAWAY: last stream {LastStreamId}, {ErrorCode}.")]
    public static partial void GoAwaySent(ILogger logger, string connectionId, int lastStreamId, Http2ErrorCode errorCode);

    [LoggerMessage(4, LogLevel.Debug, "Connection {ConnectionId} received GOAWAY: last stream {LastStreamId}, {ErrorCode}.")]
    public static partial void GoAwayReceived(ILogger logger, string connectionId, int lastStreamId, Http2ErrorCode errorCode);

    [LoggerMessage(5, LogLevel.Debug, "Connection {ConnectionId} reset stream {StreamId} with {ErrorCode}: {Reason}")]
    public static partial void StreamResetSent(ILogger logger, string connectionId, int streamId, Http2ErrorCode errorCode, string reason);

    [LoggerMessage(6, LogLevel.Debug, "Connection {ConnectionId}: the client reset stream {StreamId} with {ErrorCode}.")]
    public static partial void StreamResetReceived(ILogger logger, string connectionId, int streamId, Http2ErrorCode errorCode);

    [LoggerMessage(7, LogLevel.Information, "Connection {ConnectionId} closed for a connection error {ErrorCode}: {Reason}")]
    public static partial void ConnectionError(ILogger logger, string connectionId, Http2ErrorCode errorCode, string reason);

    [LoggerMessage(8, LogLevel.Error, "Connection {ConnectionId}, stream {StreamId}: an unhandled exception was thrown by the application.")]
    public static partial void ApplicationError(ILogger logger, string connectionId, int streamId, Exception exception);

    [LoggerMessage(9, LogLevel.Trace, "Connection {ConnectionId} received {FrameType} stream {StreamId} flags 0x{Flags:x2} length {Length}.")]
    public static partial void FrameReceived(ILogger logger, string connectionId, Http2FrameType frameType, int streamId, byte flags, int length);

    [LoggerMessage(10, LogLevel.Trace, "Connection {ConnectionId} sent {FrameType} stream {StreamId} flags 0x{Flags:x2} length {Length}.")]
    public static partial void FrameSent(ILogger logger, string connectionId, Http2FrameType frameType, int streamId, byte flags, int length);

    [LoggerMessage(11, LogLevel.Debug, "Connection {ConnectionId} is not HTTP/2 ({Reason}); handing it to Kestrel.")]
    public static partial void PassedToKestrel(ILogger logger, string connectionId, string reason);

    [LoggerMessage(12, LogLevel.Debug, "Connection {ConnectionId} timed out: {Reason}.")]
    public static partial void ConnectionTimedOut(ILogger logger, string connectionId, string reason);

    [LoggerMessage(13, LogLevel.Debug, "Connection {ConnectionId} failed: {Reason}")]
    public static partial void TransportFailed(ILogger logger, string connectionId, string reason, Exception? exception);

    [LoggerMessage(14, LogLevel.Error, "Connection {ConnectionId}, stream {StreamId}: the response could not be sent: {Reason}")]
    public static partial void ResponseInvalid(ILogger logger, string connectionId, int streamId, string reason);

    [LoggerMessage(15, LogLevel.Error, "Connection {ConnectionId}: the serve loop failed; the connection is closed with INTERNAL_ERROR.")]
    public static partial void ServeLoopFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(16, LogLevel.Information, "Connection {ConnectionId}, stream {StreamId}: the client's {Direction} data rate is below the minimum ({Bytes} bytes in {Time}).")]
    public static partial void DataRateTooLow(ILogger logger, string connectionId, int streamId, string direction, long bytes, TimeSpan time);
}
