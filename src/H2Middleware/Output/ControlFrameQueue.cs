using H2Middleware.Frames;
using H2Middleware.Protocol;

namespace H2Middleware.Output;

/// <summary>
/// The frames the serve loop owes the client (SETTINGS and PING acks, PINGs, RST_STREAM, WINDOW_UPDATE, GOAWAY). They
/// bypass the write scheduler: each write pass sends them before any stream data.
/// </summary>
internal sealed class ControlFrameQueue
{
    private const int MaxQueuedFrames = 10_000;

    private readonly Queue<ControlFrame> _frames = new();
    private bool _closing;

    public bool HasFrames => _frames.Count > 0;

    /// <summary>Why the last GOAWAY was sent, for the peer's diagnostics (RFC 9113 §6.8): ASCII, without anything secret.</summary>
    public string? GoAwayDebugData { get; private set; }

    /// <summary>The connection is closing: only its GOAWAY still matters, so other frames are no longer owed.</summary>
    public void StopOwingFrames() => _closing = true;

    public void Enqueue(in ControlFrame frame)
    {
        if (_closing)
        {
            return;
        }

        // A client that makes us owe it frames (PING, SETTINGS, resets) faster than it reads them is flooding us (CVE-2019-9512/9515).
        if (_frames.Count >= MaxQueuedFrames)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, "too many control frames owed to a client that does not read");
        }

        _frames.Enqueue(frame);
    }

    /// <summary>Queues GOAWAY; unlike other frames it is never refused, since it may be the answer to a flood.</summary>
    public void EnqueueGoAway(Http2ErrorCode errorCode, int lastStreamId, string? debugData)
    {
        GoAwayDebugData = debugData;
        _frames.Enqueue(new ControlFrame(ControlFrameKind.GoAway, lastStreamId, (long)errorCode));
    }

    public bool TryDequeue(out ControlFrame frame) => _frames.TryDequeue(out frame);

    /// <summary>Lets the queue's array go when nothing is owed (the connection is idle); the next frame makes one again.</summary>
    public void ReleaseBuffer()
    {
        if (_frames.Count == 0)
        {
            _frames.TrimExcess();
        }
    }
}
