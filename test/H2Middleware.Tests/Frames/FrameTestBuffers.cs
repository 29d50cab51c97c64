using System.Buffers;
using H2Middleware.Frames;

namespace H2Middleware.Tests.Frames;

/// <summary>Builds frames and buffers for the codec tests.</summary>
internal static class FrameTestBuffers
{
    public static byte[] Write(Action<IBufferWriter<byte>> write)
    {
        var output = new ArrayBufferWriter<byte>();
        write(output);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>A raw frame with any header and payload, valid or not.</summary>
    public static byte[] Raw(Http2FrameType type, Http2FrameFlags flags, int streamId, params byte[] payload)
    {
        var frame = new byte[Http2FrameHeader.Size + payload.Length];
        new Http2FrameHeader(payload.Length, type, flags, streamId).Write(frame);
        payload.CopyTo(frame, Http2FrameHeader.Size);
        return frame;
    }

    /// <summary>The same bytes as a sequence of segments of the given length, so frames straddle segments.</summary>
    public static ReadOnlySequence<byte> Segmented(byte[] data, int segmentLength)
    {
        if (data.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(data.AsMemory(0, Math.Min(segmentLength, data.Length)), 0);
        Segment last = first;
        for (int offset = segmentLength; offset < data.Length; offset += segmentLength)
        {
            last = last.Append(data.AsMemory(offset, Math.Min(segmentLength, data.Length - offset)));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    public static Http2FrameReadStatus ReadOne(byte[] bytes, out Http2Frame frame, out Http2FrameError error, int maxFrameSize = Http2Limits.DefaultMaxFrameSize)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        return Http2FrameReader.TryReadFrame(ref buffer, maxFrameSize, out frame, out error);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
