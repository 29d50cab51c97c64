using H2Middleware.Frames;
using static H2Middleware.Tests.Frames.FrameTestBuffers;

namespace H2Middleware.Tests.Frames;

/// <summary>Frames compared with wire bytes worked out by hand from RFC 9113 §4.1 and §6.</summary>
public class FrameGoldenBytesTests
{
    [Fact]
    public void SettingsAck() => Assert.Equal(Convert.FromHexString("000000040100000000"), Write(Http2FrameWriter.WriteSettingsAck));

    [Fact]
    public void WindowUpdate() =>
        Assert.Equal(Convert.FromHexString("000004080000000001" + "00001000"), Write(w => Http2FrameWriter.WriteWindowUpdate(w, 1, 0x1000)));

    [Fact]
    public void RstStream() =>
        Assert.Equal(Convert.FromHexString("000004030000000003" + "00000008"), Write(w => Http2FrameWriter.WriteRstStream(w, 3, Http2ErrorCode.Cancel)));

    [Fact]
    public void GoAway() =>
        Assert.Equal(Convert.FromHexString("000008070000000000" + "00000005" + "00000001"), Write(w => Http2FrameWriter.WriteGoAway(w, 5, Http2ErrorCode.ProtocolError, default)));

    [Fact]
    public void SettingsWithOneParameter() =>
        Assert.Equal(Convert.FromHexString("000006040000000000" + "0003" + "00000064"),
            Write(w => Http2FrameWriter.WriteSettings(w, [new Http2Setting(Http2SettingsParameter.MaxConcurrentStreams, 100)])));

    [Fact]
    public void DataWithEndStream() =>
        Assert.Equal(Convert.FromHexString("000002000100000001" + "6869"), Write(w => Http2FrameWriter.WriteData(w, 1, "hi"u8, endStream: true)));
}
