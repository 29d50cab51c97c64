using System.Buffers;
using H2Middleware.Frames;

namespace H2Middleware.Tests.ServeLoop.Harness;

/// <summary>A frame the test client received, copied out of the pipe so it outlives the read.</summary>
internal sealed record ReceivedFrame(
    Http2FrameType Type,
    Http2FrameFlags Flags,
    int StreamId,
    byte[] Payload,
    Http2ErrorCode ErrorCode,
    int LastStreamId,
    int WindowSizeIncrement,
    ulong PingData,
    Http2Setting[] Settings,
    int PromisedStreamId = 0)
{
    public bool EndStream => (Flags & Http2FrameFlags.EndStream) != 0 && Type is Http2FrameType.Data or Http2FrameType.Headers;

    /// <summary>The diagnostic text a GOAWAY carries (its payload is the debug data).</summary>
    public string GoAwayDebugData => Type == Http2FrameType.GoAway ? System.Text.Encoding.ASCII.GetString(Payload) : "";

    public bool EndHeaders => (Flags & Http2FrameFlags.EndHeaders) != 0 && Type is Http2FrameType.Headers or Http2FrameType.PushPromise or Http2FrameType.Continuation;

    public bool IsAck => (Flags & Http2FrameFlags.Ack) != 0 && Type is Http2FrameType.Settings or Http2FrameType.Ping;

    public override string ToString() => $"{Type} stream={StreamId} flags={Flags} length={Payload.Length} error={ErrorCode}";

    public static ReceivedFrame From(in Http2Frame frame)
    {
        var settings = new List<Http2Setting>();
        if (frame.Type == Http2FrameType.Settings)
        {
            foreach (Http2Setting setting in frame.Settings)
            {
                settings.Add(setting);
            }
        }

        return new ReceivedFrame(
            frame.Type,
            frame.Flags,
            frame.StreamId,
            frame.Payload.ToArray(),
            frame.Type is Http2FrameType.RstStream or Http2FrameType.GoAway ? frame.ErrorCode : Http2ErrorCode.NoError,
            frame.Type == Http2FrameType.GoAway ? frame.LastStreamId : 0,
            frame.Type == Http2FrameType.WindowUpdate ? frame.WindowSizeIncrement : 0,
            frame.Type == Http2FrameType.Ping ? frame.PingData : 0,
            settings.ToArray(),
            frame.PromisedStreamId);
    }
}
