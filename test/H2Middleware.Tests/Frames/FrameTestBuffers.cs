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

    public static ReadOnlySequence<byte> Segmented(byte[] data, int segmentLength) => TestSequences.Segmented(data, segmentLength);

    public static Http2FrameReadStatus ReadOne(byte[] bytes, out Http2Frame frame, out Http2FrameError error, int maxFrameSize = Http2Limits.DefaultMaxFrameSize)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        return Http2FrameReader.TryReadFrame(ref buffer, maxFrameSize, out frame, out error);
    }
}
