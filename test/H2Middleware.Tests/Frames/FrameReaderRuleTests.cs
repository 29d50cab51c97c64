using System.Buffers;
using H2Middleware.Frames;
using static H2Middleware.Tests.Frames.FrameTestBuffers;

namespace H2Middleware.Tests.Frames;

/// <summary>Every per-frame rule of RFC 9113 §4 and §6 (and RFC 9218 §7.1), with its code and its scope.</summary>
public class FrameReaderRuleTests
{
    private static byte[] Setting(Http2SettingsParameter parameter, uint value) =>
        [(byte)((int)parameter >> 8), (byte)parameter, (byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value];

    public static TheoryData<string, byte[], bool, int, int> Violations => new()
    {
        { "frame larger than SETTINGS_MAX_FRAME_SIZE", Raw(Http2FrameType.Data, 0, 1, new byte[16_385]), true, (int)Http2ErrorCode.FrameSizeError, 0 },
        { "DATA on stream 0", Raw(Http2FrameType.Data, 0, 0, 1), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "HEADERS on stream 0", Raw(Http2FrameType.Headers, Http2FrameFlags.EndHeaders, 0, 0x82), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "PRIORITY on stream 0", Raw(Http2FrameType.Priority, 0, 0, 0, 0, 0, 1, 15), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "RST_STREAM on stream 0", Raw(Http2FrameType.RstStream, 0, 0, 0, 0, 0, 8), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "PUSH_PROMISE on stream 0", Raw(Http2FrameType.PushPromise, Http2FrameFlags.EndHeaders, 0, 0, 0, 0, 2), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "CONTINUATION on stream 0", Raw(Http2FrameType.Continuation, Http2FrameFlags.EndHeaders, 0, 0x82), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "SETTINGS on a stream", Raw(Http2FrameType.Settings, 0, 1), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "PING on a stream", Raw(Http2FrameType.Ping, 0, 1, new byte[8]), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "GOAWAY on a stream", Raw(Http2FrameType.GoAway, 0, 1, new byte[8]), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "PRIORITY_UPDATE on a stream", Raw(Http2FrameType.PriorityUpdate, 0, 1, 0, 0, 0, 1), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "DATA padding as long as the payload", Raw(Http2FrameType.Data, Http2FrameFlags.Padded, 1, 3, 0, 0), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "HEADERS padding past the fragment", Raw(Http2FrameType.Headers, Http2FrameFlags.Padded | Http2FrameFlags.EndHeaders, 1, 5, 0x82), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "padded DATA with no pad length octet", Raw(Http2FrameType.Data, Http2FrameFlags.Padded, 1), true, (int)Http2ErrorCode.FrameSizeError, 0 },
        { "HEADERS too short for its priority fields", Raw(Http2FrameType.Headers, Http2FrameFlags.Priority | Http2FrameFlags.EndHeaders, 1, 0, 0, 0), true, (int)Http2ErrorCode.FrameSizeError, 0 },
        { "PRIORITY of length 4", Raw(Http2FrameType.Priority, 0, 3, 0, 0, 0, 1), false, (int)Http2ErrorCode.FrameSizeError, 3 },
        { "PRIORITY depending on itself", Raw(Http2FrameType.Priority, 0, 3, 0, 0, 0, 3, 15), false, (int)Http2ErrorCode.ProtocolError, 3 },
        { "RST_STREAM of length 3", Raw(Http2FrameType.RstStream, 0, 1, 0, 0, 8), true, (int)Http2ErrorCode.FrameSizeError, 0 },
        { "SETTINGS length not a multiple of 6", Raw(Http2FrameType.Settings, 0, 0, 0, 3, 0, 0, 0), true, (int)Http2ErrorCode.FrameSizeError, 0 },
        { "SETTINGS ACK with a payload", Raw(Http2FrameType.Settings, Http2FrameFlags.Ack, 0, Setting(Http2SettingsParameter.EnablePush, 0)), true, (int)Http2ErrorCode.FrameSizeError, 0 },
        { "ENABLE_PUSH 2", Raw(Http2FrameType.Settings, 0, 0, Setting(Http2SettingsParameter.EnablePush, 2)), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "INITIAL_WINDOW_SIZE 2^31", Raw(Http2FrameType.Settings, 0, 0, Setting(Http2SettingsParameter.InitialWindowSize, 0x8000_0000)), true, (int)Http2ErrorCode.FlowControlError, 0 },
        { "MAX_FRAME_SIZE 16383", Raw(Http2FrameType.Settings, 0, 0, Setting(Http2SettingsParameter.MaxFrameSize, 16_383)), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "MAX_FRAME_SIZE 2^24", Raw(Http2FrameType.Settings, 0, 0, Setting(Http2SettingsParameter.MaxFrameSize, 16_777_216)), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "ENABLE_CONNECT_PROTOCOL 2", Raw(Http2FrameType.Settings, 0, 0, Setting(Http2SettingsParameter.EnableConnectProtocol, 2)), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "NO_RFC7540_PRIORITIES 2", Raw(Http2FrameType.Settings, 0, 0, Setting(Http2SettingsParameter.NoRfc7540Priorities, 2)), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "PING of length 7", Raw(Http2FrameType.Ping, 0, 0, new byte[7]), true, (int)Http2ErrorCode.FrameSizeError, 0 },
        { "GOAWAY of length 7", Raw(Http2FrameType.GoAway, 0, 0, new byte[7]), true, (int)Http2ErrorCode.FrameSizeError, 0 },
        { "WINDOW_UPDATE of length 5", Raw(Http2FrameType.WindowUpdate, 0, 0, 0, 0, 0, 0, 1), true, (int)Http2ErrorCode.FrameSizeError, 0 },
        { "WINDOW_UPDATE of 0 on a stream", Raw(Http2FrameType.WindowUpdate, 0, 5, 0, 0, 0, 0), false, (int)Http2ErrorCode.ProtocolError, 5 },
        { "WINDOW_UPDATE of 0 on the connection", Raw(Http2FrameType.WindowUpdate, 0, 0, 0, 0, 0, 0), true, (int)Http2ErrorCode.ProtocolError, 0 },
        { "PUSH_PROMISE too short", Raw(Http2FrameType.PushPromise, Http2FrameFlags.EndHeaders, 1, 0, 0), true, (int)Http2ErrorCode.FrameSizeError, 0 },
        { "PRIORITY_UPDATE too short", Raw(Http2FrameType.PriorityUpdate, 0, 0, 0, 0, 1), true, (int)Http2ErrorCode.FrameSizeError, 0 },
        { "PRIORITY_UPDATE for stream 0", Raw(Http2FrameType.PriorityUpdate, 0, 0, 0, 0, 0, 0), true, (int)Http2ErrorCode.ProtocolError, 0 },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public void ViolationIsReportedWithTheRfcCodeAndScope(string rule, byte[] frame, bool connectionError, int code, int streamId)
    {
        Http2FrameReadStatus expected = connectionError ? Http2FrameReadStatus.ConnectionError : Http2FrameReadStatus.StreamError;
        Assert.True(expected == ReadOne(frame, out _, out Http2FrameError error), rule);
        Assert.Equal((Http2ErrorCode)code, error.Code);
        Assert.Equal(streamId, error.StreamId);
    }

    [Fact]
    public void UnknownSettingsAreIgnored()
    {
        Assert.Equal(Http2FrameReadStatus.Frame, ReadOne(Raw(Http2FrameType.Settings, 0, 0, Setting((Http2SettingsParameter)0x4242, 5)), out _, out _));
    }

    [Fact]
    public void AFrameAtTheLimitIsAccepted()
    {
        Assert.Equal(Http2FrameReadStatus.Frame, ReadOne(Raw(Http2FrameType.Data, 0, 1, new byte[16_384]), out Http2Frame frame, out _));
        Assert.Equal(16_384, frame.Payload.Length);
    }

    [Fact]
    public void AfterAStreamErrorTheNextFrameParses()
    {
        var buffer = new ReadOnlySequence<byte>([.. Raw(Http2FrameType.Priority, 0, 3, 0, 0, 0, 1), .. Raw(Http2FrameType.Ping, 0, 0, new byte[8])]);
        Assert.Equal(Http2FrameReadStatus.StreamError, Http2FrameReader.TryReadFrame(ref buffer, 16_384, out Http2Frame broken, out _));
        Assert.Equal(Http2FrameType.Priority, broken.Type);
        Assert.Equal(Http2FrameReadStatus.Frame, Http2FrameReader.TryReadFrame(ref buffer, 16_384, out Http2Frame ping, out _));
        Assert.Equal(Http2FrameType.Ping, ping.Type);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void PaddingThatLeavesNoDataIsValid()
    {
        Assert.Equal(Http2FrameReadStatus.Frame, ReadOne(Raw(Http2FrameType.Data, Http2FrameFlags.Padded, 1, 2, 0, 0), out Http2Frame frame, out _));
        Assert.True(frame.Payload.IsEmpty);
        Assert.Equal(3, frame.FlowControlledLength);
    }
}
