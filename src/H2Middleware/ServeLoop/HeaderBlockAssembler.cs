using System.Buffers;
using H2Middleware.Frames;
using H2Middleware.Hpack;
using H2Middleware.Protocol;
using H2Middleware.Streams;

namespace H2Middleware.ServeLoop;

/// <summary>
/// Assembles header blocks: one is open at a time, from its HEADERS frame to the frame with END_HEADERS. Each fragment is
/// decoded as it arrives, once, into the block's stream or nowhere (the HPACK state advances either way), so nothing of
/// the block is buffered; the loop acts on the block when it is complete.
/// </summary>
internal sealed class HeaderBlockAssembler(HpackDecoder decoder, HeaderStringCache strings)
{
    /// <summary>CVE-2024-27316 and friends: a header block that never ends, or ends after countless tiny frames, is an attack.</summary>
    private const int MaxContinuationFrames = 64;

    private readonly RequestFieldSink _requestFields = new(strings);
    private HeaderBlock _open;
    private int _frameCount;

    public bool IsOpen => _open.StreamId != 0;

    public HeaderBlock Open => _open;

    public void Begin(in HeaderBlock block)
    {
        _open = block;
        _frameCount = 1;
    }

    /// <summary>A CONTINUATION frame of the open block arrived.</summary>
    public void CountContinuation()
    {
        if (++_frameCount > MaxContinuationFrames)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "too many CONTINUATION frames in one header block");
        }
    }

    /// <summary>The rest of the open block belongs to no stream any more: it is decoded and dropped.</summary>
    public void Ignore() => _open = _open.For(HeaderBlockPurpose.Ignore);

    /// <summary>
    /// Decodes one fragment into <paramref name="stream"/>, or nowhere when null. Returns true with the block when this
    /// fragment completed it; <paramref name="listTooLarge"/> then says whether the decoded list exceeded the limit.
    /// </summary>
    public bool Decode(in ReadOnlySequence<byte> fragment, bool endHeaders, Http2Stream? stream, out HeaderBlock completed, out bool listTooLarge)
    {
        IHpackHeaderSink sink = DiscardingHeaderSink.Instance;
        if (stream is not null)
        {
            _requestFields.Target = stream;
            sink = _requestFields;
        }

        listTooLarge = false;
        try
        {
            decoder.Decode(fragment, endHeaders, sink);
        }
        catch (HpackDecodingException error) when (error.Error == HpackDecodingError.HeaderListTooLarge)
        {
            listTooLarge = true;
        }
        catch (HpackDecodingException error)
        {
            throw new Http2ConnectionException(Http2ErrorCode.CompressionError, "HPACK: " + error.Message);
        }
        finally
        {
            _requestFields.Target = null;
        }

        completed = _open;
        if (!endHeaders)
        {
            return false;
        }

        _open = default;
        return true;
    }
}
