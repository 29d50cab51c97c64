using System.Buffers;
using H2Middleware.Frames;
using H2Middleware.Output;
using H2Middleware.Hpack;
using H2Middleware.Protocol;
using H2Middleware.Scheduling;
using H2Middleware.Streams;

namespace H2Middleware.ServeLoop;

/// <summary>
/// Header blocks (HEADERS and its CONTINUATION frames): what a block is for is decided from its first frame, before
/// a byte is decoded; the block is then decoded once, fragment by fragment, into the stream or nowhere (the HPACK state
/// advances either way); what the block does happens when it is complete.
/// </summary>
internal sealed partial class Http2Connection
{
    private const int MaxContinuationFrames = 64;

    private PendingHeaderBlock _headerBlock;

    private enum HeaderBlockPurpose : byte
    {
        /// <summary>The request headers of a new stream.</summary>
        Request,

        /// <summary>The trailers of an open stream's request.</summary>
        Trailers,

        /// <summary>A block the client sent before it could see our RST_STREAM or GOAWAY: decoded and dropped.</summary>
        Ignore,

        /// <summary>A stream beyond the concurrency limit: REFUSED_STREAM, which the client may retry.</summary>
        Refuse,

        /// <summary>A stream error the client caused: decoded and dropped, then the stream is reset.</summary>
        Reject,
    }

    /// <summary>A header block whose CONTINUATION frames may still be arriving.</summary>
    private struct PendingHeaderBlock
    {
        public int StreamId;
        public HeaderBlockPurpose Purpose;
        public bool EndStream;
        public int FrameCount;
        public Http2ErrorCode RejectCode;
        public ConnectionEndReason RejectCause;
        public string? RejectReason;

        public PendingHeaderBlock Rejecting(Http2ErrorCode code, ConnectionEndReason cause, string reason)
        {
            PendingHeaderBlock block = this;
            block.Purpose = HeaderBlockPurpose.Reject;
            block.RejectCode = code;
            block.RejectCause = cause;
            block.RejectReason = reason;
            return block;
        }

        public PendingHeaderBlock For(HeaderBlockPurpose purpose)
        {
            PendingHeaderBlock block = this;
            block.Purpose = purpose;
            return block;
        }
    }

    private void OnHeaders(in Http2Frame frame)
    {
        if ((frame.StreamId & 1) == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "a client stream id must be odd");
        }

        _headerBlock = BeginHeaderBlock(frame);
        if (!frame.EndHeaders)
        {
            StartHeaderBlockTimer();
        }

        DecodeHeaderBlock(frame.Payload, frame.EndHeaders);
    }

    /// <summary>What the block that this HEADERS frame starts is for (RFC 9113 §5.1, §6.8, §8.1); opens its stream if new.</summary>
    private PendingHeaderBlock BeginHeaderBlock(in Http2Frame frame)
    {
        int streamId = frame.StreamId;
        var block = new PendingHeaderBlock { StreamId = streamId, EndStream = frame.EndStream, FrameCount = 1 };
        if (_streams.TryGetValue(streamId, out StreamEntry? stream) && !stream.IsClosed)
        {
            // A second HEADERS on an open stream carries trailers (RFC 9113 §8.1).
            if (stream.RemoteClosed)
            {
                return block.Rejecting(Http2ErrorCode.StreamClosed, ConnectionEndReason.ReceivedFrameAfterStreamClose, "HEADERS on a half-closed (remote) stream");
            }

            if (stream.Stream.IsConnectRequest)
            {
                // RFC 9113 §8.5: a CONNECT stream carries DATA, not trailers.
                return block.Rejecting(Http2ErrorCode.ProtocolError, ConnectionEndReason.UnexpectedFrame, "HEADERS on a CONNECT stream");
            }

            stream.Stream.BeginTrailers();
            return block.For(HeaderBlockPurpose.Trailers);
        }

        if (streamId <= _highestStreamId)
        {
            // RFC 9113 §5.1: frames the client sent before seeing our RST_STREAM are ignored; after its own RST_STREAM
            // they are a STREAM_CLOSED stream error, after both END_STREAMs a STREAM_CLOSED connection error; any other
            // lower id was never opened, which §5.1.1 makes a PROTOCOL_ERROR.
            return CloseCauseOf(streamId) switch
            {
                StreamCloseCause.ResetByServer => block.For(HeaderBlockPurpose.Ignore),
                StreamCloseCause.ResetByClient => block.Rejecting(Http2ErrorCode.StreamClosed, ConnectionEndReason.ReceivedFrameAfterStreamClose, "HEADERS on a stream the client reset"),
                StreamCloseCause.EndStream => throw new Http2ConnectionException(Http2ErrorCode.StreamClosed, "HEADERS on a closed stream"),
                _ => throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "stream id lower than one already used"),
            };
        }

        _highestStreamId = streamId;
        if (streamId > _goAwayLastStreamId)
        {
            // RFC 9113 §6.8: streams above the last-stream-id of our GOAWAY are ignored.
            return block.For(HeaderBlockPurpose.Ignore);
        }

        if (_openStreamCount >= Options.MaxStreamsPerConnection)
        {
            // Before our SETTINGS are acknowledged the client may not know the limit yet (RFC 9113 §6.5.3), but no first
            // flight of requests holds more than another limit's worth.
            if (_unacknowledgedSettings == 0 || ++_refusedBeforeSettingsAck > Options.MaxStreamsPerConnection)
            {
                ChargeClientError(ConnectionEndReason.MaxConcurrentStreamsExceeded);
            }

            return block.For(HeaderBlockPurpose.Refuse);
        }

        OpenStream(streamId);
        return frame.HasPriority && frame.StreamDependency == streamId
            ? block.Rejecting(Http2ErrorCode.ProtocolError, ConnectionEndReason.StreamSelfDependency, "a stream cannot depend on itself")
            : block.For(HeaderBlockPurpose.Request);
    }

    private void OnContinuation(in Http2Frame frame)
    {
        if (_headerBlock.StreamId == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "CONTINUATION without an open header block");
        }

        // CVE-2024-27316 and friends: a header block that never ends, or ends after countless tiny frames, is an attack.
        if (++_headerBlock.FrameCount > MaxContinuationFrames)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "too many CONTINUATION frames in one header block");
        }

        DecodeHeaderBlock(frame.Payload, frame.EndHeaders);
    }

    private void DecodeHeaderBlock(in ReadOnlySequence<byte> fragment, bool endHeaders)
    {
        IHpackHeaderSink sink = DiscardingHeaderSink.Instance;
        if (_headerBlock.Purpose is HeaderBlockPurpose.Request or HeaderBlockPurpose.Trailers)
        {
            if (FindOpenStream(_headerBlock.StreamId) is { } stream)
            {
                _requestFields.Target = stream.Stream;
                sink = _requestFields;
            }
            else
            {
                // We reset the stream while its CONTINUATION frames were arriving: the rest of the block is ignored (§5.1).
                _headerBlock.Purpose = HeaderBlockPurpose.Ignore;
            }
        }

        bool listTooLarge = false;
        try
        {
            _hpackDecoder.Decode(fragment, endHeaders, sink);
        }
        catch (HpackDecodingException error) when (error.Error == HpackDecodingError.HeaderListTooLarge)
        {
            listTooLarge = true;
        }
        catch (HpackDecodingException error)
        {
            throw new Http2ConnectionException(Http2ErrorCode.CompressionError, "HPACK: " + error.Message);
        }

        if (!endHeaders)
        {
            return;
        }

        PendingHeaderBlock block = _headerBlock;
        _headerBlock = default;
        _requestFields.Target = null;
        _headerBlockStartedAt = null;
        OnHeaderBlockComplete(block, listTooLarge);
    }

    /// <summary>The stream's entry while the stream is open; the table holds closed entries a while longer, for their handlers.</summary>
    private StreamEntry? FindOpenStream(int streamId) =>
        _streams.TryGetValue(streamId, out StreamEntry? stream) && !stream.IsClosed ? stream : null;

    private void OnHeaderBlockComplete(in PendingHeaderBlock block, bool listTooLarge)
    {
        StreamEntry? stream = FindOpenStream(block.StreamId);
        switch (block.Purpose)
        {
            case HeaderBlockPurpose.Ignore:
                return;
            case HeaderBlockPurpose.Refuse:
                QueueRstStream(block.StreamId, Http2ErrorCode.RefusedStream, "too many concurrent streams");
                return;
            case HeaderBlockPurpose.Reject when stream is not null:
                RejectStream(stream, block.RejectCode, block.RejectCause, block.RejectReason!);
                return;
            case HeaderBlockPurpose.Reject:
                ChargeClientError(block.RejectCause);
                QueueRstStream(block.StreamId, block.RejectCode, block.RejectReason!);
                return;
            case HeaderBlockPurpose.Trailers:
                OnRequestTrailersComplete(stream!, block.EndStream, listTooLarge);
                return;
            default:
                OnRequestHeadersComplete(stream!, block.EndStream, listTooLarge);
                return;
        }
    }

    private void OnRequestTrailersComplete(StreamEntry stream, bool endStream, bool listTooLarge)
    {
        if (listTooLarge)
        {
            RejectStream(stream, Http2ErrorCode.ProtocolError, ConnectionEndReason.MaxRequestHeadersTotalSizeExceeded, "request trailers too large");
            return;
        }

        string? trailerError = stream.Stream.CompleteRequestTrailers();
        if (trailerError is not null)
        {
            RejectStream(stream, Http2ErrorCode.ProtocolError, ConnectionEndReason.InvalidRequestHeaders, trailerError);
            return;
        }

        if (!endStream)
        {
            RejectStream(stream, Http2ErrorCode.ProtocolError, ConnectionEndReason.InvalidRequestHeaders, "trailers without END_STREAM");
            return;
        }

        OnRequestBodyEnd(stream);
    }

    private void OnRequestHeadersComplete(StreamEntry stream, bool endStream, bool listTooLarge)
    {
        if (listTooLarge)
        {
            ChargeClientError(ConnectionEndReason.MaxRequestHeadersTotalSizeExceeded);
            RespondWithoutApplication(stream, Microsoft.AspNetCore.Http.StatusCodes.Status431RequestHeaderFieldsTooLarge, endStream);
            return;
        }

        string? requestError = stream.Stream.CompleteRequestHeaders();
        if (requestError is not null)
        {
            RejectStream(stream, Http2ErrorCode.ProtocolError, ConnectionEndReason.InvalidRequestHeaders, requestError);
            return;
        }

        if (_earlyPriorities.Remove(stream.StreamId, out Http2Priority early))
        {
            stream.ClientPriority = early;
        }
        else if (stream.Stream.TryGetRequestPriority(out Http2Priority requested))
        {
            stream.ClientPriority = requested;
        }

        stream.Stream.SetRequestHasBody(!endStream);
        if (endStream)
        {
            if (stream.Stream.DeclaredContentLength is > 0)
            {
                RejectStream(stream, Http2ErrorCode.ProtocolError, ConnectionEndReason.InvalidContentLength, "content-length without a body");
                return;
            }

            OnRequestBodyEnd(stream);
        }

        StartApplication(stream);
    }
}
