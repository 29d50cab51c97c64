using System.Buffers.Binary;
using H2Middleware.Frames;
using LatencyUpload;

namespace H2Middleware.Tests.EndToEnd;

/// <summary>
/// Follows a cleartext HTTP/2 connection through a <see cref="DelayingProxy"/> as its client sees it, and tracks the
/// connection's receive window the server gives the client: 65,535 bytes, plus the WINDOW_UPDATE increments on stream 0
/// delivered to the client, minus the DATA the client has sent. With fixed windows the largest it gets is the initial
/// window (the server only gives back what it received); anything more is growth.
/// </summary>
internal sealed class ClientWindowObserver
{
    private const int FrameHeaderLength = 9;

    private readonly Lock _lock = new();
    private readonly Dictionary<ProxyDirection, List<byte>> _unparsed = new()
    {
        [ProxyDirection.ClientToServer] = [],
        [ProxyDirection.ServerToClient] = [],
    };

    private bool _prefaceSkipped;
    private long _window = Http2Limits.DefaultInitialWindowSize;

    /// <summary>The most DATA the client was ever allowed to send on the connection before hearing from the server again.</summary>
    public long LargestConnectionWindow { get; private set; } = Http2Limits.DefaultInitialWindowSize;

    /// <summary>For <see cref="DelayingProxy"/>'s client-side view.</summary>
    public void Observe(ProxyDirection direction, ReadOnlyMemory<byte> bytes)
    {
        lock (_lock)
        {
            List<byte> unparsed = _unparsed[direction];
            unparsed.AddRange(bytes.Span);
            if (direction == ProxyDirection.ClientToServer && !_prefaceSkipped)
            {
                if (unparsed.Count < Http2Limits.ClientPreface.Length)
                {
                    return;
                }

                unparsed.RemoveRange(0, Http2Limits.ClientPreface.Length);
                _prefaceSkipped = true;
            }

            int offset = 0;
            byte[] frames = [.. unparsed];
            while (frames.Length - offset >= FrameHeaderLength)
            {
                int length = (frames[offset] << 16) | (frames[offset + 1] << 8) | frames[offset + 2];
                if (frames.Length - offset < FrameHeaderLength + length)
                {
                    break;
                }

                var type = (Http2FrameType)frames[offset + 3];
                int streamId = BinaryPrimitives.ReadInt32BigEndian(frames.AsSpan(offset + 5)) & int.MaxValue;
                if (direction == ProxyDirection.ClientToServer && type == Http2FrameType.Data)
                {
                    _window -= length;
                }
                else if (direction == ProxyDirection.ServerToClient && type == Http2FrameType.WindowUpdate && streamId == 0)
                {
                    _window += BinaryPrimitives.ReadInt32BigEndian(frames.AsSpan(offset + FrameHeaderLength)) & int.MaxValue;
                    LargestConnectionWindow = Math.Max(LargestConnectionWindow, _window);
                }

                offset += FrameHeaderLength + length;
            }

            unparsed.RemoveRange(0, offset);
        }
    }
}
