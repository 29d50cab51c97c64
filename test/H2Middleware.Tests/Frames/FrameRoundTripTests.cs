using System.Buffers;
using H2Middleware.Frames;
using static H2Middleware.Tests.Frames.FrameTestBuffers;

namespace H2Middleware.Tests.Frames;

/// <summary>Every frame type through the writer and back through the reader.</summary>
public class FrameRoundTripTests
{
    private static Http2Frame RoundTrip(Action<IBufferWriter<byte>> write)
    {
        Assert.Equal(Http2FrameReadStatus.Frame, ReadOne(Write(write), out Http2Frame frame, out _));
        return frame;
    }

    [Fact]
    public void Data()
    {
        Http2Frame frame = RoundTrip(w => Http2FrameWriter.WriteData(w, 3, "hello"u8, endStream: true));
        Assert.Equal((Http2FrameType.Data, 3, true), (frame.Type, frame.StreamId, frame.EndStream));
        Assert.Equal("hello"u8.ToArray(), frame.Payload.ToArray());
        Assert.Equal(5, frame.FlowControlledLength);
    }

    [Fact]
    public void DataFromASequence()
    {
        ReadOnlySequence<byte> data = Segmented("abcdefghij"u8.ToArray(), 3);
        Http2Frame frame = RoundTrip(w => Http2FrameWriter.WriteData(w, 1, data, endStream: false));
        Assert.False(frame.EndStream);
        Assert.Equal("abcdefghij"u8.ToArray(), frame.Payload.ToArray());
    }

    [Fact]
    public void HeadersThatFit()
    {
        Http2Frame frame = RoundTrip(w => Http2FrameWriter.WriteHeaders(w, 5, [1, 2, 3], endStream: true, 16_384));
        Assert.Equal((Http2FrameType.Headers, 5, true, true), (frame.Type, frame.StreamId, frame.EndStream, frame.EndHeaders));
        Assert.Equal([1, 2, 3], frame.Payload.ToArray());
        Assert.False(frame.HasPriority);
    }

    [Fact]
    public void HeadersSplitIntoContinuations()
    {
        byte[] block = Enumerable.Range(0, 40_000).Select(i => (byte)i).ToArray();
        var buffer = new ReadOnlySequence<byte>(Write(w => Http2FrameWriter.WriteHeaders(w, 7, block, endStream: true, 16_384)));

        var frames = new List<Http2Frame>();
        while (Http2FrameReader.TryReadFrame(ref buffer, 16_384, out Http2Frame frame, out _) == Http2FrameReadStatus.Frame)
        {
            frames.Add(frame);
        }

        Assert.Equal([Http2FrameType.Headers, Http2FrameType.Continuation, Http2FrameType.Continuation], frames.Select(f => f.Type));
        Assert.Equal([false, false, true], frames.Select(f => f.EndHeaders));
        Assert.True(frames[0].EndStream);
        Assert.All(frames, f => Assert.Equal(7, f.StreamId));
        Assert.Equal(block, frames.SelectMany(f => f.Payload.ToArray()).ToArray());
    }

    [Fact]
    public void Priority()
    {
        Http2Frame frame = RoundTrip(w => Http2FrameWriter.WritePriority(w, 9, 3, exclusive: true, weight: 256));
        Assert.Equal((Http2FrameType.Priority, true, 3, true, 256), (frame.Type, frame.HasPriority, frame.StreamDependency, frame.IsExclusive, frame.Weight));
    }

    [Fact]
    public void RstStream()
    {
        Http2Frame frame = RoundTrip(w => Http2FrameWriter.WriteRstStream(w, 11, Http2ErrorCode.Cancel));
        Assert.Equal((Http2FrameType.RstStream, 11, Http2ErrorCode.Cancel), (frame.Type, frame.StreamId, frame.ErrorCode));
    }

    [Fact]
    public void SettingsAndAck()
    {
        Http2Setting[] settings = [new(Http2SettingsParameter.MaxConcurrentStreams, 100), new(Http2SettingsParameter.InitialWindowSize, 1 << 20), new((Http2SettingsParameter)0x99, 7)];
        Http2Frame frame = RoundTrip(w => Http2FrameWriter.WriteSettings(w, settings));
        var read = new List<Http2Setting>();
        foreach (Http2Setting setting in frame.Settings)
        {
            read.Add(setting);
        }

        Assert.Equal(settings, read);
        Assert.False(frame.IsAck);
        Assert.True(RoundTrip(Http2FrameWriter.WriteSettingsAck).IsAck);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Ping(bool ack)
    {
        Http2Frame frame = RoundTrip(w => Http2FrameWriter.WritePing(w, 0xDEADBEEF_01020304, ack));
        Assert.Equal((Http2FrameType.Ping, ack, 0xDEADBEEF_01020304UL), (frame.Type, frame.IsAck, frame.PingData));
    }

    [Fact]
    public void GoAwayWithDebugData()
    {
        Http2Frame frame = RoundTrip(w => Http2FrameWriter.WriteGoAway(w, 41, Http2ErrorCode.EnhanceYourCalm, "calm down"u8));
        Assert.Equal((Http2FrameType.GoAway, 41, Http2ErrorCode.EnhanceYourCalm), (frame.Type, frame.LastStreamId, frame.ErrorCode));
        Assert.Equal("calm down"u8.ToArray(), frame.Payload.ToArray());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(13)]
    public void WindowUpdate(int streamId)
    {
        Http2Frame frame = RoundTrip(w => Http2FrameWriter.WriteWindowUpdate(w, streamId, int.MaxValue));
        Assert.Equal((Http2FrameType.WindowUpdate, streamId, int.MaxValue), (frame.Type, frame.StreamId, frame.WindowSizeIncrement));
    }

    [Fact]
    public void PushPromise()
    {
        Http2Frame frame = RoundTrip(w => Http2FrameWriter.WritePushPromise(w, 1, 2, [9, 8, 7], 16_384));
        Assert.Equal((Http2FrameType.PushPromise, 1, 2, true), (frame.Type, frame.StreamId, frame.PromisedStreamId, frame.EndHeaders));
        Assert.Equal([9, 8, 7], frame.Payload.ToArray());
    }

    [Fact]
    public void PriorityUpdate()
    {
        Http2Frame frame = RoundTrip(w => Http2FrameWriter.WritePriorityUpdate(w, 5, "u=1, i"u8));
        Assert.Equal((Http2FrameType.PriorityUpdate, 0, 5), (frame.Type, frame.StreamId, frame.PrioritizedStreamId));
        Assert.Equal("u=1, i"u8.ToArray(), frame.Payload.ToArray());
    }

    [Fact]
    public void PaddedDataExcludesPaddingButCountsItForFlowControl()
    {
        byte[] bytes = Raw(Http2FrameType.Data, Http2FrameFlags.Padded | Http2FrameFlags.EndStream, 1, [3, (byte)'a', (byte)'b', 0, 0, 0]);
        Assert.Equal(Http2FrameReadStatus.Frame, ReadOne(bytes, out Http2Frame frame, out _));
        Assert.Equal("ab"u8.ToArray(), frame.Payload.ToArray());
        Assert.Equal(6, frame.FlowControlledLength);
        Assert.True(frame.EndStream);
    }

    [Fact]
    public void PaddedHeadersWithPriority()
    {
        // pad length 2, exclusive dependency on 3, weight 16 (wire 15), fragment 0x82, padding.
        byte[] bytes = Raw(Http2FrameType.Headers, Http2FrameFlags.Padded | Http2FrameFlags.Priority | Http2FrameFlags.EndHeaders, 5, [2, 0x80, 0, 0, 3, 15, 0x82, 0, 0]);
        Assert.Equal(Http2FrameReadStatus.Frame, ReadOne(bytes, out Http2Frame frame, out _));
        Assert.Equal((true, 3, true, 16), (frame.HasPriority, frame.StreamDependency, frame.IsExclusive, frame.Weight));
        Assert.Equal([0x82], frame.Payload.ToArray());
    }

    [Fact]
    public void UnknownTypesArriveAsFrames()
    {
        Assert.Equal(Http2FrameReadStatus.Frame, ReadOne(Raw((Http2FrameType)0xEE, Http2FrameFlags.None, 3, [1, 2]), out Http2Frame frame, out _));
        Assert.Equal((Http2FrameType)0xEE, frame.Type);
        Assert.Equal([1, 2], frame.Payload.ToArray());
    }

    [Fact]
    public void ReservedBitsAreMasked()
    {
        byte[] bytes = Raw(Http2FrameType.WindowUpdate, Http2FrameFlags.None, 0, [0x80, 0, 0, 1]);
        bytes[5] |= 0x80;
        Assert.Equal(Http2FrameReadStatus.Frame, ReadOne(bytes, out Http2Frame frame, out _));
        Assert.Equal((0, 1), (frame.StreamId, frame.WindowSizeIncrement));

        Assert.Equal(Http2FrameReadStatus.Frame, ReadOne(Raw(Http2FrameType.GoAway, Http2FrameFlags.None, 0, [0x80, 0, 0, 7, 0, 0, 0, 0]), out Http2Frame goAway, out _));
        Assert.Equal(7, goAway.LastStreamId);
    }
}
