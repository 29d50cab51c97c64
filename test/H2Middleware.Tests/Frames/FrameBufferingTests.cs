using System.Buffers;
using System.Runtime.InteropServices;
using H2Middleware.Frames;
using static H2Middleware.Tests.Frames.FrameTestBuffers;

namespace H2Middleware.Tests.Frames;

/// <summary>Frames straddling buffer segments, partial frames, and payloads that are never copied.</summary>
public class FrameBufferingTests
{
    private static readonly byte[] Stream =
    [
        .. Write(w => Http2FrameWriter.WriteSettings(w, [new Http2Setting(Http2SettingsParameter.InitialWindowSize, 1000)])),
        .. Write(w => Http2FrameWriter.WriteWindowUpdate(w, 0, 5000)),
        .. Write(w => Http2FrameWriter.WriteHeaders(w, 1, Enumerable.Range(0, 300).Select(i => (byte)i).ToArray(), endStream: false, 16_384)),
        .. Write(w => Http2FrameWriter.WriteData(w, 1, new byte[1000], endStream: true)),
        .. Write(w => Http2FrameWriter.WritePing(w, 77, ack: false)),
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(100)]
    public void FramesStraddlingSegmentsParse(int segmentLength)
    {
        ReadOnlySequence<byte> buffer = Segmented(Stream, segmentLength);
        var types = new List<Http2FrameType>();
        long payloadBytes = 0;
        while (Http2FrameReader.TryReadFrame(ref buffer, 16_384, out Http2Frame frame, out _) == Http2FrameReadStatus.Frame)
        {
            types.Add(frame.Type);
            payloadBytes += frame.Payload.Length;
        }

        Assert.Equal([Http2FrameType.Settings, Http2FrameType.WindowUpdate, Http2FrameType.Headers, Http2FrameType.Data, Http2FrameType.Ping], types);
        Assert.Equal(6 + 300 + 1000, payloadBytes);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void EveryTruncatedPrefixNeedsMoreDataAndConsumesNothing()
    {
        byte[] frame = Write(w => Http2FrameWriter.WriteData(w, 1, new byte[50], endStream: false));
        for (int length = 0; length < frame.Length; length++)
        {
            ReadOnlySequence<byte> buffer = Segmented(frame[..length], 4);
            ReadOnlySequence<byte> before = buffer;
            Assert.Equal(Http2FrameReadStatus.NeedMoreData, Http2FrameReader.TryReadFrame(ref buffer, 16_384, out _, out _));
            Assert.Equal(before.Length, buffer.Length);
            Assert.True(before.Start.Equals(buffer.Start));
        }
    }

    [Fact]
    public void PayloadIsASliceOfTheInputNotACopy()
    {
        byte[] bytes = Write(w => Http2FrameWriter.WriteData(w, 1, new byte[100], endStream: false));
        Assert.Equal(Http2FrameReadStatus.Frame, ReadOne(bytes, out Http2Frame frame, out _));

        Assert.True(MemoryMarshal.TryGetArray(frame.Payload.First, out ArraySegment<byte> segment));
        Assert.Same(bytes, segment.Array);
        Assert.Equal(Http2FrameHeader.Size, segment.Offset);
    }

    [Fact]
    public void ReadingAndWritingAllocateNothing()
    {
        var output = new ArrayBufferWriter<byte>(64 * 1024);
        byte[] data = new byte[16_384];
        byte[] block = new byte[200];
        void Cycle()
        {
            output.ResetWrittenCount();
            Http2FrameWriter.WriteData(output, 1, data, endStream: false);
            Http2FrameWriter.WriteHeaders(output, 3, block, endStream: true, 16_384);
            Http2FrameWriter.WriteWindowUpdate(output, 0, 100);
            Http2FrameWriter.WritePing(output, 1, ack: true);
            Http2FrameWriter.WriteRstStream(output, 5, Http2ErrorCode.Cancel);
            var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);
            while (Http2FrameReader.TryReadFrame(ref buffer, 16_384, out Http2Frame frame, out _) == Http2FrameReadStatus.Frame)
            {
                _ = frame.Payload.Length;
            }
        }

        for (int i = 0; i < 100; i++)
        {
            Cycle();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            Cycle();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
